// The XEP-0114 connection: xmpp.js's component, plus exponential backoff on reconnect (xmpp.js
// retries at a fixed 1 s), and a clear fatal error when the server refuses our handshake.
import { Socket } from "node:net";
import { component, type Component } from "@xmpp/component";
import xml from "@xmpp/xml";
import type { Logger } from "../log/index.js";
import { noMetrics, type Metrics } from "../metrics/index.js";
import { XmppAuthError } from "../errors.js";

/** First retry soon (a server restart takes a second or two), then back off to spare the logs. */
const RECONNECT_INITIAL_MS = 500;
const RECONNECT_MAX_MS = 30_000;
/** Stream errors that no retry can fix (RFC 6120 §4.9.3): a wrong secret or an unknown domain. */
const FATAL_STREAM_ERRORS = new Set(["not-authorized", "host-unknown", "improper-addressing"]);

export interface ConnectionOptions {
  readonly host: string;
  readonly port: number;
  readonly domain: string;
  readonly secret: string;
  readonly logger: Logger;
  /** Called once when the server refuses the component for good. */
  readonly onFatal: (err: XmppAuthError) => void;
  /** Told when the stream comes up and goes down (the connected gauge and reconnect counter). */
  readonly metrics?: Pick<Metrics, "connection">;
}

export interface Connection {
  readonly xmpp: Component;
  start(): void;
  stop(): Promise<void>;
}

export function createConnection(options: ConnectionOptions): Connection {
  const { logger } = options;
  const metrics = options.metrics ?? noMetrics;
  const xmpp = component({
    service: `xmpp://${options.host}:${options.port}`,
    domain: options.domain,
    password: options.secret,
  });
  hardenParser(xmpp);
  sendWithoutDelay(xmpp);
  let delay = RECONNECT_INITIAL_MS;
  let stopped = false;
  xmpp.reconnect.delay = delay;

  const listeners = {
    online: () => {
      metrics.connection("online");
      delay = RECONNECT_INITIAL_MS;
      xmpp.reconnect.delay = delay;
      logger.info({ host: options.host, port: options.port, domain: options.domain }, "connected to the XMPP server");
    },
    // xmpp.js's reconnect listener has already read reconnect.delay for this attempt; set the next one.
    disconnect: () => {
      metrics.connection("offline");
      if (stopped) return;
      logger.warn({ retryInMs: delay }, "not connected to the XMPP server; retrying");
      delay = Math.min(delay * 2, RECONNECT_MAX_MS);
      xmpp.reconnect.delay = delay + Math.floor(Math.random() * (delay / 4));
    },
    error: (err: Error & { condition?: string; code?: string }) => {
      if (err.condition && FATAL_STREAM_ERRORS.has(err.condition)) {
        stopped = true;
        xmpp.reconnect.stop();
        const hint = err.condition === "not-authorized" ? "check that the secret matches component_secret" : "check --domain against the server's Component entry";
        options.onFatal(new XmppAuthError(`the XMPP server refused the component (${err.condition}): ${hint}`));
        return;
      }
      if (err.code) {
        // Connection refused/reset while the server is down: the disconnect listener reports it.
        logger.debug({ err: { message: err.message, code: err.code } }, "xmpp connection error");
      } else {
        logger.warn({ err: { message: err.message, condition: err.condition } }, "xmpp stream error; reconnecting");
      }
    },
  };

  return {
    xmpp,
    start() {
      xmpp.on("online", listeners.online);
      xmpp.on("disconnect", listeners.disconnect);
      xmpp.on("error", listeners.error);
      // If the server is not up yet, start() rejects but the reconnect module keeps trying.
      xmpp.start().catch(() => undefined);
    },
    async stop() {
      stopped = true;
      xmpp.reconnect.stop();
      if (xmpp.status === "online") {
        await xmpp.stop().catch((err: Error) => logger.debug({ err: err.message }, "error while closing the stream"));
      } else if (xmpp.status !== "offline") {
        await xmpp.stop().catch(() => undefined);
      }
      xmpp.removeListener("online", listeners.online);
      xmpp.removeListener("disconnect", listeners.disconnect);
      xmpp.removeListener("error", listeners.error);
      metrics.connection("offline");
    },
  };
}

/**
 * TCP_NODELAY on the stream to the server. Our writes are confirmations (IQ results), each a
 * small write of its own; with Nagle's algorithm (Node's default, and Prosody's: server_epoll
 * `nagle = true`) a confirmation written while the previous one is still unacknowledged waits for
 * that ACK, which the server's kernel delays up to 40 ms when it has no stanza of its own to
 * carry it. Measured in `npm run bench` (docs/performance.md, helper tail9): the copies confirmed
 * after the server stopped sending got their results 42 ms late, a tenth to a third of the slowest
 * 1 % of a steady 1,000/s phase. Without Nagle each result leaves at once (one segment each: on
 * loopback or a LAN that costs less than the wait).
 */
function sendWithoutDelay(xmpp: Component): void {
  const entity = xmpp as unknown as { Socket: typeof Socket };
  entity.Socket = class NoDelaySocket extends Socket {
    constructor() {
      super();
      // Before connect(): Node keeps it and applies it once the socket has a handle.
      this.setNoDelay(true);
    }
  };
}

/**
 * Keeps broken XML from the server from crashing the process (xmpp.js 0.13):
 * - ltx's parser throws from write() on an illegal entity or character, and xmpp.js calls it
 *   from the socket's data listener. We turn the throw into the parser's 'error' event, which
 *   closes the stream with bad-format (RFC 6120 §4.9.3.1); we then reconnect as after any
 *   other disconnect.
 * - After that error xmpp.js detaches the parser, but data already received still arrives and
 *   would be written to a null parser. It is dropped: the stream is being closed anyway.
 * Both are fixed upstream in @xmpp/connection 0.14, which needs Node 22. This function, and the
 * _onData and Parser declarations it relies on, go when we move to 0.14 (engines.node >= 22 in
 * package.json; Debian 13 ships Node 20.19, so not before Debian 14 or a NodeSource Node).
 */
function hardenParser(xmpp: Component): void {
  const entity = xmpp as unknown as { Parser: typeof xml.Parser; parser: unknown; _onData(data: Buffer): void };
  entity.Parser = class SafeParser extends xml.Parser {
    override write(data: string): void {
      try {
        super.write(data);
      } catch (err) {
        this.emit("error", err);
      }
    }
  };
  const onData = entity._onData;
  entity._onData = function (this: typeof entity, data: Buffer) {
    if (this.parser) onData.call(this, data);
  };
}
