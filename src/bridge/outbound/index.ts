export { outboundRecipient } from "./route.js";
export { chatSubject, composeMail, referencesFor, replySubject, type ComposedMail, type OutboundMail } from "./compose.js";
export { createSmtpSender, SMTP_RETRY_DELAYS_MS, type SmtpSender } from "./smtp.js";
export { createOutbound, SENT_FOLDER, type Outbound, type OutboundOptions } from "./sender.js";
export { openSendCounter, LimitError, LIMITS_FILE, type SendCounter, type SendLimits, type LimitName } from "./limits.js";
