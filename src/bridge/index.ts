export { createBridge, type Bridge, type BridgeOptions, type BridgeSettings } from "./bridge.js";
export type { Trigger } from "./watch/index.js";
