export { loadRunConfig, type ConfigSources } from "./load.js";
export { RUN_OPTIONS, LOG_LEVELS, SECRET_ENV, CONFIG_ENV, envName, type RunConfig, type LogLevel, type OptionSpec } from "./options.js";
