export { createPresenceTracker, type PresenceTracker } from "./tracker.js";
