export { createConnection, type Connection, type ConnectionOptions } from "./connection.js";
export { errorElement, errorSpecFor, messageErrorReply, type StanzaErrorSpec } from "./stanza-error.js";
