export { loadRunConfig, type ConfigSources } from "./load.js";
export { RUN_OPTIONS, LOG_LEVELS, SECRET_ENV, CONFIG_ENV, WATCH_TRIGGERS, envName, type RunConfig, type MaildirRunConfig, deliversToMaildir, type LogLevel, type OptionSpec, type MetricsSettings, type Delivery } from "./options.js";
export { loadReplayConfig, needed, REPLAY_CONFIG_KEYS, type ReplayConfig, type ReplayNeeds } from "./replay.js";
export { parseDeliver, describeDelivery, describeStorage, DELIVER_FORMS } from "./deliver.js";
