export { createMaildirSource, type MaildirSourceOptions } from "./maildir.js";
export { createProsodySource, PROSODY_STORES, type ProsodySourceOptions, type ProsodyStore } from "./prosody.js";
export { createNdjsonSource, type NdjsonSourceOptions } from "./ndjson.js";
export { parseListFile, type LuaTable, type LuaValue } from "./lua-literal.js";
export { createEjabberdSqlSource, createProsodySqlSource, parseDsn, EJABBERD_STORES, type Dsn, type EjabberdStore } from "./sql/index.js";
export { createEjabberdMnesiaSource, type MnesiaExportOptions } from "./mnesia.js";
