export { summarizeMail, normalizeAddress, MAX_TEXT_CHARS, type MailSummary } from "./summary.js";
export { findUid, imapMessageUrl, type MessageUid } from "./imap-url.js";
export { pushedMessage, threadFor, type PushedMessage } from "./message.js";
export { createNotifier, type NotifierOptions } from "./push.js";
