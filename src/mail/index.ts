export { renderMail, subjectOf, headerSafe, XMPP_CONTENT_TYPE, type RenderOptions, type RenderedMail } from "./render.js";
export { messageIdFor, threadIdFor } from "./message-id.js";
export { parseMail, peekHeaders, headerDate, parseStanzaXml, type ParsedMail } from "./parse.js";
