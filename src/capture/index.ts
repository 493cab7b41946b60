export { captureCopy, captureDirect, type CaptureContext } from "./classify.js";
export { NS_COPY, NS_FORWARD, NS_DELAY, NS_CLIENT } from "./namespaces.js";
export type { ArchiveRecord, CaptureReason, CaptureResult, MessageIds } from "./record.js";
export { recordFromMessage, delayStamp, type MessageFacts } from "./parse-message.js";
