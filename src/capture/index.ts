export { captureCopy, captureDirect, type CaptureContext } from "./classify.js";
export { INBOX, type ArchiveRecord, type CaptureReason, type CaptureResult, type MarkRecord, type MessageIds, type Placement } from "./record.js";
export { recordFromMessage, delayStamp, type MessageFacts } from "./parse-message.js";
export { KEYWORDS, MARK_KEYWORDS, placementFor, roomFolderName, type PlacementSettings } from "./placement.js";
export { readChatFacts, type ChatFacts, type Link, type Marker } from "./chat.js";
export type { EmbeddedData, HtmlContent } from "./xhtml.js";
export { ENCRYPTED_POLICIES, type ChatSettings, type EncryptedPolicy } from "./settings.js";
export { readEncryption, type Encryption } from "./encryption.js";
export { readModeration, readReply, type Moderation, type Reply } from "./reply.js";
