export { createMailWatch, type MailWatch, type MailWatchOptions, type Trigger } from "./mail-watch.js";
export { createScanner, type Scanner, type NewMail, type Outcome } from "./scanner.js";
export { openPushState, STATE_FILE, type PushState, type ReplyContext } from "./state.js";
export { createFsTrigger, type FsTrigger } from "./fs-trigger.js";
export { createHttpTrigger, type HttpTrigger } from "./http-trigger.js";
