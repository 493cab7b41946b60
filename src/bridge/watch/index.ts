export { createMailWatch, type MailWatch, type MailWatchOptions, type Trigger } from "./mail-watch.js";
export type { NewMail, Outcome } from "./scanner.js";
