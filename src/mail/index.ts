export { renderMail, subjectOf, headerSafe, XMPP_CONTENT_TYPE, type RenderOptions, type RenderedMail } from "./render.js";
export { messageIdFor, messageIdOf, threadIdFor } from "./message-id.js";
export { chatHeaders, dayThreadIdFor, guessRelatedId } from "./chat-headers.js";
export { RETRACTED_TEXT } from "./rich.js";
export { STANZA_ID_HEADER, parseStanzaIdHeader } from "./stanza-id.js";
export { parseMail, firstAddress, peekHeaders, headerDate, parseStanzaXml, type ParsedMail } from "./parse.js";
export { extractXmppPart, type XmppPart } from "./xmpp-part.js";
export { CONNECTION_CODES, isConnectionFailure, type NodemailerError } from "./smtp-errors.js";
export { markReaction } from "./chat-structure.js";
