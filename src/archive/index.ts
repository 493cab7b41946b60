export { createArchiveHandler, type ArchiveHandler, type ArchiveHandlerOptions, type ArchiveSettings } from "./handler.js";
export { createLimiter, type Limiter, type LimiterOptions } from "./limiter.js";
export { createFailureReporter, type FailureReporter } from "./report.js";
