export { createMetricsEndpoint, type MetricsEndpoint } from "./endpoint.js";
export { createPrometheusMetrics, METRIC_PREFIX, type Health, type PrometheusMetrics } from "./registry.js";
