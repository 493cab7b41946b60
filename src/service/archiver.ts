// Wires the one-way flow: xmpp → capture → mail → maildir → confirmation (or a stanza error).
import { createHash } from "node:crypto";
import type { Element } from "@xmpp/xml";
import { captureCopy, captureDirect, NS_COPY, type CaptureContext, type CaptureResult } from "../capture/index.js";
import type { RunConfig } from "../config/index.js";
import { describeTarget } from "../config/index.js";
import { openJournal, type DedupeJournal } from "../dedupe/index.js";
import { ConfigError, LmtpError, RefusedError, type XmppAuthError } from "../errors.js";
import { bare } from "../jid.js";
import { createLmtpClient, type LmtpClient } from "../lmtp/index.js";
import type { Logger } from "../log/index.js";
import { noMetrics, type ArchiveKind, type Metrics } from "../metrics/index.js";
import { compileTemplate, createMaildirWriter, type MaildirWriter } from "../maildir/index.js";
import { createConnection } from "../xmpp/connection.js";
import { errorElement, errorSpecFor, messageErrorReply } from "../xmpp/stanza-error.js";
import { createBridge } from "./bridge.js";
import { createFailureReporter } from "./report.js";
import { createLimiter } from "./limiter.js";
import { createStore } from "./store.js";

/** fsync'd Maildir writes peak at 16–64 in flight on these disks (docs/performance.md). */
const MAX_ACTIVE_WRITES = 64;
/**
 * Stanzas waiting for a write slot. Past this we answer `wait` at once: the server module keeps
 * the copy in its durable outbox and sends it again, so the backlog never sits in our memory.
 */
const MAX_QUEUED = 1024;

/** Wall-clock milliseconds with sub-millisecond precision, for file-name times (arrival order). */
function now(): number {
  return performance.timeOrigin + performance.now();
}

export interface Archiver {
  /** Opens the dedupe journal (a StorageError if it cannot) and connects. */
  start(): Promise<void>;
  /** Stops taking stanzas, waits for writes in flight, closes the stream. */
  stop(): Promise<void>;
}

export interface ArchiverOptions {
  readonly config: RunConfig;
  readonly logger: Logger;
  readonly onFatal: (err: XmppAuthError) => void;
  readonly writer?: MaildirWriter;
  /** Counters and gauges (src/metrics); none by default. */
  readonly metrics?: Metrics;
}

export function createArchiver(options: ArchiverOptions): Archiver {
  const { config, logger } = options;
  const metrics = options.metrics ?? noMetrics;
  const resolveMaildir = config.maildir === undefined ? undefined : compileTemplate(config.maildir);
  const writer = options.writer ?? createMaildirWriter();
  const limiter = createLimiter({ maxActive: MAX_ACTIVE_WRITES, maxQueued: MAX_QUEUED, onChange: (state) => metrics.inFlight(state) });
  const failures = createFailureReporter(logger, metrics);
  const lmtp: LmtpClient | undefined =
    config.delivery.kind === "lmtp" ? createLmtpClient({ target: config.delivery.target, logger, name: config.domain }) : undefined;
  const store = createStore({ config, logger, writer, resolveMaildir, lmtp });
  const connection = createConnection({
    host: config.xmppHost,
    port: config.xmppPort,
    domain: config.domain,
    secret: config.secret,
    logger,
    onFatal: options.onFatal,
    metrics,
  });
  const { xmpp } = connection;
  // Mail ↔ XMPP (./bridge.ts); created here so that its middleware runs before ours.
  const bridge = createBridge({ config, logger, xmpp, writer, resolveMaildir });
  /** Copies being stored now, by dedupe key: a copy sent again meanwhile waits for the first. */
  const inProgress = new Map<string, Promise<void>>();
  let journal: DedupeJournal | undefined;
  let accepting = false;

  const context = (): CaptureContext => ({
    componentDomain: config.domain,
    userDomain: config.userDomain,
    now: new Date(),
    maxStanzaBytes: config.maxStanzaBytes,
    ...(config.chat ? { chat: config.chat } : {}),
  });

  /** Runs capture and stores what it returns. Throws typed errors only. */
  async function archive(
    stanza: Element,
    capture: (ctx: CaptureContext) => CaptureResult,
    how: { kind: ArchiveKind; arrivedAt: number; dedupeKey?: string },
  ): Promise<void> {
    const { arrivedAt, dedupeKey } = how;
    const started = performance.now();
    const result = capture(context());
    if (result.kind === "skip") {
      logger.debug({ from: stanza.attrs.from, to: stanza.attrs.to, id: stanza.attrs.id, reason: result.reason }, "not archived");
      return;
    }
    if (result.kind === "mark") {
      const { mark } = result;
      const outcome = await store.mark(mark);
      const fields = { user: bare(mark.owner), id: stanza.attrs.id, peer: bare(mark.peer), original: mark.id, seen: mark.seen, keywords: mark.keywords };
      if (outcome === "not-applied") logger.debug(fields, "marker not applied: flags cannot be set over LMTP");
      else logger.info({ ...fields, result: outcome }, "marked");
      return;
    }
    const { record } = result;
    const stored = await storeRecord(record, arrivedAt, dedupeKey);
    failures.recovered(started);
    metrics.stored({ kind: how.kind, status: stored.status, seconds: (now() - arrivedAt) / 1000 });
    logger.info(
      {
        user: bare(record.owner),
        id: stanza.attrs.id,
        folder: stored.folder,
        messageId: stored.messageId,
        bytes: stored.bytes,
        ms: Math.round((performance.now() - started) * 10) / 10,
        reason: record.reason,
        ...(stored.response ? { response: stored.response } : {}),
      },
      stored.status === "stored" ? "stored" : "duplicate message, already in the archive",
    );
  }

  /** Stores a record with the journal entries of its delivery mode (src/dedupe/journal.ts). */
  async function storeRecord(record: Parameters<typeof store.store>[0], arrivedAt: number, dedupeKey: string | undefined) {
    const j = dedupeKey ? journal : undefined;
    if (!j || !dedupeKey) return store.store(record, { arrivedAt });
    if (!lmtp) {
      const stored = await store.store(record, { arrivedAt, beforeRename: (path: string) => j.prepare(dedupeKey, path) });
      j.commit(dedupeKey);
      return stored;
    }
    let stored;
    try {
      stored = await store.store(record, { arrivedAt, beforeSend: (recipient: string) => j.sending(dedupeKey, recipient) });
    } catch (err) {
      // A reply said it was not stored; without one (connection lost) the attempt stays in doubt.
      if (err instanceof LmtpError && err.responseCode !== undefined) j.abandon(dedupeKey);
      throw err;
    }
    // Durable before the confirmation: a copy re-sent after a crash here is then not delivered twice.
    if (stored.status === "stored") await j.delivered(dedupeKey);
    return stored;
  }

  /** A copy: stored at most once per copy id, whatever happened to earlier attempts. */
  async function archiveCopy(stanza: Element): Promise<void> {
    const arrivedAt = now();
    const id = stanza.attrs.id;
    if (!id) throw new RefusedError("copy without an id", { type: "modify", condition: "bad-request" });
    const key = createHash("sha256").update(`${stanza.attrs.from ?? ""}\0${id}`).digest("hex").slice(0, 32);
    const running = inProgress.get(key);
    if (running) return running;
    const work = limiter.run(async () => {
      const seen = journal ? await journal.lookup(key) : "unknown";
      if (seen === "stored") {
        logger.info({ id, from: stanza.attrs.from }, "duplicate copy, already stored");
        metrics.stored({ kind: "copy", status: "duplicate" });
        return;
      }
      if (seen === "in-doubt") {
        // At least once: better a mail twice than none (src/dedupe/journal.ts).
        logger.warn({ id, from: stanza.attrs.from }, "an earlier LMTP delivery of this copy got no answer; delivering it again (it may be stored twice)");
      }
      await archive(stanza, (ctx) => captureCopy(stanza, ctx), { kind: "copy", arrivedAt, dedupeKey: key });
    });
    inProgress.set(key, work);
    try {
      await work;
    } finally {
      inProgress.delete(key);
    }
  }

  // Copies from the server module: the IQ result is the confirmation that the copy is in new/.
  xmpp.iqCallee.set(NS_COPY, "copy", async ({ stanza }) => {
    try {
      if (!accepting) throw new RefusedError("shutting down", { type: "wait", condition: "resource-constraint" });
      await archiveCopy(stanza);
      return true;
    } catch (err) {
      failures.report(stanza, err);
      // xmpp.js echoes the IQ's child in error replies (RFC 6120 §8.3.1 allows it). Echoing a
      // refused copy would send up to max-stanza-bytes back, or a hostile deep tree that blows
      // the serialiser's stack; keep only the empty <copy/> element.
      const copy = stanza.getChild("copy", NS_COPY);
      if (copy) copy.children = [];
      return errorElement(errorSpecFor(err));
    }
  });

  // Messages to user@<component domain>.
  xmpp.middleware.use(async ({ stanza }, next) => {
    if (stanza.name !== "message") return next();
    try {
      if (!accepting) throw new RefusedError("shutting down", { type: "wait", condition: "resource-constraint" });
      const arrivedAt = now();
      await limiter.run(() => archive(stanza, (ctx) => captureDirect(stanza, ctx), { kind: "direct", arrivedAt }));
    } catch (err) {
      failures.report(stanza, err);
      // RFC 6120 §8.3.1: never answer an error with an error.
      if (stanza.attrs.type !== "error") await xmpp.send(messageErrorReply(stanza, errorSpecFor(err))).catch(() => undefined);
    }
    return undefined;
  });

  return {
    async start() {
      try {
        journal = await openJournal(config.stateDir);
      } catch (err) {
        if (err instanceof ConfigError) throw err;
        const reason = (err as { reason?: string }).reason ?? String(err);
        throw new Error(`cannot open the dedupe journal in ${config.stateDir} (${reason}): make it writable by this user, or set --state-dir`, { cause: err });
      }
      logger.debug({ stateDir: config.stateDir, remembered: journal.size() }, "dedupe journal open");
      if (config.delivery.kind === "lmtp") {
        // Said once, so an admin reading the log knows what LMTP mode cannot do (README, "Delivery over LMTP").
        logger.info(
          { deliver: describeTarget(config.delivery.target) },
          "delivering over LMTP: folders as recipient detail (user+Chats@domain; Dovecot needs lmtp_save_to_detail_mailbox = yes and lda_mailbox_autocreate = yes, else all goes to INBOX); flags (\\Seen, keywords) and receipts are not applied",
        );
      }
      metrics.journal("open");
      accepting = true;
      await bridge.start();
      connection.start();
    },
    async stop() {
      accepting = false;
      await limiter.idle();
      // The confirmations of the last writes are built and written by xmpp.js's middleware in
      // promise callbacks after our handlers return. Let them reach the socket before the closing
      // </stream:stream> does; otherwise a stored copy goes unconfirmed and is sent again (to
      // another instance, with ejabberd's several connections, which would store it twice).
      await new Promise((resolve) => setImmediate(resolve));
      await bridge.stop();
      await connection.stop();
      metrics.journal("closed");
      await lmtp?.close();
      await journal?.close();
    },
  };
}
