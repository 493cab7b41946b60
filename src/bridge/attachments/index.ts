export { safeFileName, MAX_NAME_CHARS } from "./names.js";
export { createUploader, type FileToUpload, type Uploader, type UploaderOptions, type UploadResult } from "./uploader.js";
export { NS_UPLOAD, type IqRequest, type UploadService } from "./service.js";
export { attachmentMessage, MAX_ATTACHMENTS, safeMediaType, uploadAttachments, type AttachmentOutcome, type MailAttachment, type SharedAttachment } from "./to-xmpp.js";
export { readWholeMail, wholeMailLimit } from "./whole-mail.js";
export { fetchReplyFiles, replyText, type MailFile, type ReplyFiles } from "./to-mail.js";
