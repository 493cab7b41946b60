// The prom-client implementation is in ./prometheus/, loaded only when --metrics-port is set.
export { noMetrics, type ArchiveKind, type Metrics } from "./recorder.js";
