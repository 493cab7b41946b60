export { captureCopy, captureDirect, type CaptureContext } from "./classify.js";
export { NS_COPY, NS_FORWARD, NS_DELAY, NS_CLIENT } from "./namespaces.js";
export { INBOX, type ArchiveRecord, type CaptureReason, type CaptureResult, type MarkRecord, type MessageIds, type Placement } from "./record.js";
export { recordFromMessage, delayStamp, type MessageFacts } from "./parse-message.js";
export { KEYWORDS, MARK_KEYWORDS, placementFor, roomFolderName, type PlacementSettings } from "./placement.js";
export { readChatFacts, type ChatFacts, type EmbeddedData, type Link, type Marker } from "./chat.js";
export type { HtmlContent } from "./xhtml.js";
export type { ChatSettings } from "./settings.js";
