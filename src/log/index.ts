// Structured logging through pino, injected everywhere (never imported as a global).
import { pino, type DestinationStream, type Logger } from "pino";

export type { Logger };

/** Keys that must never reach a log line, however an object got there. */
const REDACT = ["secret", "password", "*.secret", "*.password", "handshake"];

export function createLogger(options: { level: string; destination?: DestinationStream }): Logger {
  const config = { level: options.level, base: { name: "xmpp-maildir" }, redact: REDACT };
  return options.destination ? pino(config, options.destination) : pino(config);
}
