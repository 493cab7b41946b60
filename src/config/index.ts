export { loadRunConfig, type ConfigSources } from "./load.js";
export { RUN_OPTIONS, LOG_LEVELS, SECRET_ENV, CONFIG_ENV, WATCH_TRIGGERS, envName, type RunConfig, type LogLevel, type OptionSpec, type ChatSettings, type BridgeSettings, type MetricsSettings, type Delivery, type LmtpTarget } from "./options.js";
export { loadReplayConfig, REPLAY_CONFIG_KEYS, type ReplayConfig, type ReplayNeeds } from "./replay.js";
export { parseDeliver, describeTarget, DELIVER_FORMS } from "./deliver.js";
