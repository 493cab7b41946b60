export type { Sink, StoreOptions, StoreOutcome, MarkOutcome } from "./sink.js";
export type { MailSettings } from "./archive-index.js";
export { createMaildirSink, type MaildirSinkOptions } from "./maildir-sink.js";
export { createLmtpSink, type LmtpSinkOptions } from "./lmtp-sink.js";
export * from "./lmtp/index.js";
