export { createMailWatch, type MailWatch, type MailWatchOptions, type Trigger } from "./mail-watch.js";
export { MAX_READ_BYTES, type NewMail, type Outcome } from "./scanner.js";
export { findInbox } from "./inbox-files.js";
