// Hands archived mail to an LMTP server (RFC 2033), one recipient per transaction, over a small
// pool of kept-open connections (nodemailer's SMTPConnection with `lmtp: true`, which reads the
// per-recipient replies to DATA that LMTP gives, RFC 2033 §4.2).
//
// Every failure becomes an LmtpError: a 4xx reply or a connection that could not be made or broke
// is transient (the copy is answered `wait` and sent again), a 5xx is permanent.
import net from "node:net";
import SMTPConnection from "nodemailer/lib/smtp-connection/index.js";
import { LmtpError } from "../../errors.js";
import type { Logger } from "../../log/index.js";
import { CONNECTION_CODES, isConnectionFailure, type NodemailerError } from "../../mail/index.js";
import { describeTarget, type LmtpTarget } from "./target.js";

/** Dovecot LMTP: about 190 mails/s on one connection and 480/s on 8 on these machines (docs/performance.md). */
export const LMTP_CONNECTIONS = 8;
/**
 * Per reply once connected. A delivery with Sieve and quota takes milliseconds to a second; this
 * stays well below the server module's 30 s confirmation timeout, so the module hears `wait` from
 * us instead of timing out and sending the copy again while we still wait.
 */
export const LMTP_TIMEOUT_MS = 15_000;
/**
 * Connecting and the greeting: a LAN connect takes a millisecond. Shorter than `run`'s 10 s
 * shutdown limit, so a SIGTERM while the LMTP host is unreachable still ends cleanly.
 */
export const LMTP_CONNECT_TIMEOUT_MS = 5_000;
/**
 * After a connection could not be made, deliveries in this window fail at once with the same
 * error instead of each waiting for its own timeout: with 64 copies in flight and a host that is
 * down, all are answered `wait` within one connect timeout, not eight of them per timeout.
 */
export const CONNECT_HOLDOFF_MS = 1_000;
/** A clean QUIT on shutdown gets this long before the socket is simply closed. */
const QUIT_TIMEOUT_MS = 1_000;
/**
 * A connection that could not be made or broke: nodemailer's connection codes, and a TLS or
 * protocol failure mid-session, which over LMTP also leaves the mail's fate open (transient).
 */
const LMTP_CONNECTION_CODES: ReadonlySet<string> = new Set([...CONNECTION_CODES, "ETLS", "EPROTOCOL"]);

export interface LmtpClient {
  /**
   * Delivers one mail to one recipient, with the empty reverse path (MAIL FROM:<>). Resolves with
   * the server's 250 reply once the server has stored it; throws LmtpError otherwise.
   */
  deliver(recipient: string, message: Buffer): Promise<string>;
  /** The target as lmtp://host:port or lmtp:/path, for logs and errors. */
  readonly target: string;
  /** Ends idle connections (QUIT) and refuses new deliveries. Call when nothing is in flight. */
  close(): Promise<void>;
}

export interface LmtpClientOptions {
  readonly target: LmtpTarget;
  readonly logger: Logger;
  /** Sent in LHLO: it shows in the Received line Dovecot adds. */
  readonly name: string;
  readonly maxConnections?: number;
  readonly timeoutMs?: number;
  readonly connectTimeoutMs?: number;
}

export function createLmtpClient(options: LmtpClientOptions): LmtpClient {
  const target = describeTarget(options.target);
  const logger = options.logger.child({ part: "lmtp" });
  const max = options.maxConnections ?? LMTP_CONNECTIONS;
  const timeout = options.timeoutMs ?? LMTP_TIMEOUT_MS;
  const connectTimeout = options.connectTimeoutMs ?? LMTP_CONNECT_TIMEOUT_MS;
  /** The last failed connect, for CONNECT_HOLDOFF_MS. */
  let connectFailure: { at: number; error: LmtpError } | undefined;
  /** Open connections not in use; a connection the server closes meanwhile removes itself. */
  const idle = new Set<SMTPConnection>();
  /** Deliveries waiting for one of the `max` slots. */
  const waiting: Array<() => void> = [];
  let busy = 0;
  let closed = false;

  function classify(err: NodemailerError, phase: "connect" | "send" = "send"): LmtpError {
    const code = err.responseCode;
    // A server that will not talk to us (even with a 5xx greeting) refuses no particular mail.
    if (code !== undefined && err.response && phase === "connect") {
      return new LmtpError(target, err.response, { responseCode: code, transient: true, reason: replyReason(err.response), cause: err });
    }
    if (code !== undefined && err.response) {
      // 421: the server is closing the connection (RFC 5321 §4.2.3), e.g. Dovecot shutting down.
      return new LmtpError(target, err.response, { responseCode: code, transient: code < 500, reason: replyReason(err.response), cause: err });
    }
    const connection = isConnectionFailure(err, LMTP_CONNECTION_CODES);
    const reason = err.originalCode ?? err.code ?? "error";
    // Anything we do not recognise is answered `wait` too: the copy stays in the module's outbox,
    // where an admin can see it, instead of being dropped for an error we did not foresee.
    return new LmtpError(target, connection ? `cannot reach the LMTP server (${err.message})` : err.message, { transient: true, reason, cause: err });
  }

  function connect(): Promise<SMTPConnection> {
    const conn = new SMTPConnection({
      lmtp: true,
      name: options.name,
      ignoreTLS: true,
      connectionTimeout: connectTimeout,
      greetingTimeout: connectTimeout,
      socketTimeout: timeout,
      ...(options.target.socket !== undefined
        ? { connection: net.createConnection({ path: options.target.socket }) }
        : { host: options.target.host, port: options.target.port }),
    });
    return new Promise((resolve, reject) => {
      let settled = false;
      // Listeners never throw, and an 'error' without a listener would crash the process: this
      // one stays for the connection's whole life. Errors during a delivery reach its callback too.
      conn.on("error", (err: NodemailerError) => {
        if (!settled) {
          settled = true;
          reject(classify(err, "connect"));
          return;
        }
        logger.debug({ target, err: err.message }, "LMTP connection failed");
      });
      conn.once("end", () => {
        idle.delete(conn);
        if (!settled) {
          settled = true;
          reject(new LmtpError(target, "the LMTP server closed the connection", { transient: true, reason: "closed" }));
        }
      });
      conn.connect((err?: NodemailerError) => {
        if (settled) return;
        settled = true;
        if (err) {
          conn.close();
          reject(classify(err, "connect"));
        } else resolve(conn);
      });
    });
  }

  async function slot(): Promise<void> {
    if (busy < max) {
      busy += 1;
      return;
    }
    // The freed slot is handed over as is (busy stays the same).
    await new Promise<void>((resolve) => waiting.push(resolve));
  }

  function release(): void {
    const next = waiting.shift();
    if (next) next();
    else busy -= 1;
  }

  function send(conn: SMTPConnection, recipient: string, message: Buffer): Promise<string> {
    return new Promise((resolve, reject) => {
      // RFC 5321 §4.5.5: the null reverse path. An archive copy is no mail anyone sent: nothing
      // may bounce or auto-reply (Sieve vacation) to it.
      conn.send({ from: "", to: [recipient] }, message, (err, info) => {
        if (err) return reject(classify(err as NodemailerError));
        // LMTP answers DATA once per recipient; nodemailer reports a refused one in rejectedErrors.
        if (!info.accepted.includes(recipient)) {
          const refusal = info.rejectedErrors?.[0] as NodemailerError | undefined;
          return reject(classify(refusal ?? Object.assign(new Error(info.response), { responseCode: Number(info.response.slice(0, 3)), response: info.response })));
        }
        resolve(info.response);
      });
    });
  }

  async function open(): Promise<SMTPConnection> {
    if (connectFailure && performance.now() - connectFailure.at < CONNECT_HOLDOFF_MS) {
      const { error } = connectFailure;
      throw new LmtpError(target, error.response, { responseCode: error.responseCode, transient: error.transient, reason: error.reason, cause: error });
    }
    try {
      const conn = await connect();
      connectFailure = undefined;
      return conn;
    } catch (err) {
      if (err instanceof LmtpError) connectFailure = { at: performance.now(), error: err };
      throw err;
    }
  }

  async function attempt(recipient: string, message: Buffer): Promise<string> {
    const reused = idle.values().next().value;
    if (reused) idle.delete(reused);
    const conn = reused ?? (await open());
    try {
      const response = await send(conn, recipient, message);
      if (closed) conn.close();
      else idle.add(conn);
      return response;
    } catch (err) {
      // A transaction that failed with a reply leaves the session usable (RFC 5321 §4.1.1.5), but
      // a fresh one costs a millisecond and cannot carry over a half-known state.
      conn.close();
      throw err;
    }
  }

  return {
    target,
    async deliver(recipient, message) {
      if (closed) throw new LmtpError(target, "shutting down", { transient: true, reason: "shutting down" });
      await slot();
      try {
        try {
          return await attempt(recipient, message);
        } catch (err) {
          // A kept-open connection the server closed just before we used it (Dovecot closes idle
          // LMTP sessions on `doveadm reload`): nothing was sent, so one more try is safe.
          if (err instanceof LmtpError && isStale(err)) {
            logger.debug({ target }, "LMTP connection was closed while idle; reconnecting");
            return await attempt(recipient, message);
          }
          throw err;
        }
      } finally {
        release();
      }
    },
    async close() {
      closed = true;
      const ending = [...idle].map(
        (conn) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              conn.close();
              resolve();
            }, QUIT_TIMEOUT_MS);
            conn.once("end", () => {
              clearTimeout(timer);
              resolve();
            });
            conn.quit();
          }),
      );
      idle.clear();
      await Promise.all(ending);
    },
  };
}

/** "452 4.2.2 <alice@…> Quota exceeded" → "452 4.2.2" (RFC 3463 enhanced status when given). */
export function replyReason(response: string): string {
  const match = /^(\d{3})(?:[ -](\d\.\d{1,3}\.\d{1,3}))?/.exec(response);
  if (!match) return response.slice(0, 40);
  return match[2] ? `${match[1]} ${match[2]}` : match[1]!;
}

/** nodemailer refuses to use a connection it already knows is closed, before sending anything. */
function isStale(err: LmtpError): boolean {
  const cause = err.cause as NodemailerError | undefined;
  return cause?.command === "API" && cause.code === "ECONNECTION";
}
