export { createLmtpClient, replyReason, LMTP_CONNECTIONS, LMTP_TIMEOUT_MS, LMTP_CONNECT_TIMEOUT_MS, CONNECT_HOLDOFF_MS, type LmtpClient, type LmtpClientOptions } from "./client.js";
export { lmtpRecipient, quoteLocal, RECIPIENT_DELIMITER, FOLDER_SEPARATOR, type LmtpRecipient } from "./recipient.js";
export { describeTarget, type LmtpTarget } from "./target.js";
