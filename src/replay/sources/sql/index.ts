export { createEjabberdSqlSource, EJABBERD_STORES, type EjabberdStore } from "./ejabberd.js";
export { createProsodySqlSource } from "./prosody.js";
export { parseDsn, type Dsn } from "./db.js";
