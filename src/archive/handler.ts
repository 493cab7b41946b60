// The archive flow for one stanza: capture → render → Sink.store → confirmation (or a stanza
// error). Copies from the server module arrive as IQs (the IQ result is the confirmation that the
// copy is stored); messages to user@<component domain> through the middleware. src/app.ts
// registers both, in the order it writes down.
import { createHash } from "node:crypto";
import type { Middleware, MiddlewareContext } from "@xmpp/component";
import type { Element } from "@xmpp/xml";
import { NS_COPY, NS_COPY_BATCH } from "../namespaces.js";
import { captureCopy, captureDirect, type CaptureContext, type CaptureResult, type ChatSettings, type EncryptedPolicy } from "../capture/index.js";
import { openJournal, type DedupeJournal } from "../dedupe/index.js";
import type { Sink, StoreOutcome } from "../delivery/index.js";
import { RefusedError, StorageError } from "../errors.js";
import { bare } from "../jid.js";
import type { Logger } from "../log/index.js";
import type { ArchiveKind, Metrics } from "../metrics/index.js";
import { errorElement, errorSpecFor, messageErrorReply } from "../xmpp/stanza-error.js";
import { batchResult, splitBatch } from "./batch.js";
import { createLimiter } from "./limiter.js";
import { createFailureReporter } from "./report.js";
import { fetchShares } from "./uploads.js";
import type { Fetcher } from "../fetch/index.js";

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

export interface ArchiveSettings {
  /** The component's domain (archive.example.org). */
  readonly domain: string;
  readonly userDomain: string;
  readonly maxStanzaBytes: number;
  readonly chat: ChatSettings;
  /** --encrypted; absent means archive. */
  readonly encrypted?: EncryptedPolicy;
  /** Holds the dedupe journal (src/dedupe/journal.ts). */
  readonly stateDir: string;
}

export interface ArchiveHandlerOptions {
  readonly settings: ArchiveSettings;
  readonly sink: Sink;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Sends an error reply to a direct message. */
  readonly send: (stanza: Element) => Promise<void>;
  /** With --upload-origins: fetches shared files into the mail before it is stored (./uploads.ts). */
  readonly uploads?: Fetcher;
}

export interface ArchiveHandler {
  /** For iqCallee.set(NS_COPY, "copy", …): resolves with true (the confirmation) or an error element. */
  readonly copy: (ctx: MiddlewareContext) => Promise<Element | true>;
  /** For iqCallee.set(NS_COPY_BATCH, "copies", …): the result's <copies/>, or an error element for the whole batch. */
  readonly copies: (ctx: MiddlewareContext) => Promise<Element>;
  /** Middleware for messages to user@<component domain>; anything else goes on to `next`. */
  readonly direct: Middleware;
  /** Opens the dedupe journal (a StorageError if it cannot) and starts taking stanzas. */
  open(): Promise<void>;
  /** Stops taking stanzas and waits for the writes in flight and their confirmations. */
  drain(): Promise<void>;
  /** Closes the journal. After drain() and after the sink is closed. */
  close(): Promise<void>;
}

export function createArchiveHandler(options: ArchiveHandlerOptions): ArchiveHandler {
  const { settings, sink, logger, metrics } = options;
  const limiter = createLimiter({ maxActive: MAX_ACTIVE_WRITES, maxQueued: MAX_QUEUED, onChange: (state) => metrics.inFlight(state) });
  const failures = createFailureReporter(logger, metrics);
  /** Copies being stored now, by dedupe key: a copy sent again meanwhile waits for the first. */
  const inProgress = new Map<string, Promise<void>>();
  let journal: DedupeJournal | undefined;
  let accepting = false;

  const context = (): CaptureContext => ({
    componentDomain: settings.domain,
    userDomain: settings.userDomain,
    now: new Date(),
    maxStanzaBytes: settings.maxStanzaBytes,
    chat: settings.chat,
    ...(settings.encrypted ? { encrypted: settings.encrypted } : {}),
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
      const outcome = await sink.mark(mark);
      const fields = { user: bare(mark.owner), id: stanza.attrs.id, peer: bare(mark.peer), original: mark.id, seen: mark.seen, keywords: mark.keywords };
      if (outcome === "not-applied") logger.debug(fields, "marker not applied: flags cannot be set over LMTP");
      else logger.info({ ...fields, result: outcome }, "marked");
      return;
    }
    // Before the store, so the confirmation still follows a durable write; bounded (./uploads.ts).
    const record = options.uploads ? await fetchShares(result.record, { fetcher: options.uploads, logger, metrics }) : result.record;
    const dedupe = dedupeKey && journal ? { journal, key: dedupeKey } : undefined;
    const stored: StoreOutcome = await sink.store(record, { arrivedAt, dedupe });
    failures.recovered(started);
    if (stored.status === "skipped") {
      // Confirmed, and nothing written: there is nothing the archive could attach it to. The
      // journal is left alone: a copy sent again is looked at again, and skipped again.
      logger.info({ user: bare(record.owner), id: stanza.attrs.id, reason: stored.reason }, "not archived");
      return;
    }
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

  const shuttingDown = () => new RefusedError("shutting down", { type: "wait", condition: "resource-constraint" });

  /** One copy, settled: true (confirmed) or the error element for it, logged. */
  async function answerCopy(stanza: Element): Promise<Element | true> {
    try {
      if (!accepting) throw shuttingDown();
      await archiveCopy(stanza);
      return true;
    } catch (err) {
      failures.report(stanza, err);
      return errorElement(errorSpecFor(err));
    }
  }

  return {
    async copy({ stanza }) {
      const answer = await answerCopy(stanza);
      if (answer !== true) {
        // xmpp.js echoes the IQ's child in error replies (RFC 6120 §8.3.1 allows it). Echoing a
        // refused copy would send up to max-stanza-bytes back, or a hostile deep tree that blows
        // the serialiser's stack; keep only the empty <copy/> element.
        const copy = stanza.getChild("copy", NS_COPY);
        if (copy) copy.children = [];
      }
      return answer;
    },
    async copies({ stanza }) {
      let singles: Element[];
      try {
        if (!accepting) throw shuttingDown();
        singles = splitBatch(stanza, settings.userDomain);
      } catch (err) {
        failures.report(stanza, err);
        // An error for the whole batch; echo only the empty <copies/> (see copy above).
        const copies = stanza.getChild("copies", NS_COPY_BATCH);
        if (copies) copies.children = [];
        return errorElement(errorSpecFor(err));
      }
      logger.debug({ id: stanza.attrs.id, from: stanza.attrs.from, copies: singles.length }, "batch of copies");
      // All at once: they share the limiter's slots and the journal's group commit (one fsync for
      // the copies of a batch that reach it together); answered when every one is settled.
      const answers = await Promise.all(singles.map(async (single) => ({ id: String(single.attrs.id), answer: await answerCopy(single) })));
      return batchResult(answers);
    },
    async direct({ stanza }, next) {
      if (stanza.name !== "message") return next();
      try {
        if (!accepting) throw shuttingDown();
        const arrivedAt = now();
        await limiter.run(() => archive(stanza, (ctx) => captureDirect(stanza, ctx), { kind: "direct", arrivedAt }));
      } catch (err) {
        failures.report(stanza, err);
        // RFC 6120 §8.3.1: never answer an error with an error.
        if (stanza.attrs.type !== "error") await options.send(messageErrorReply(stanza, errorSpecFor(err))).catch(() => undefined);
      }
      return undefined;
    },
    async open() {
      try {
        journal = await openJournal(settings.stateDir);
      } catch (err) {
        if (!(err instanceof StorageError)) throw err;
        throw new StorageError(settings.stateDir, err, { message: `cannot open the dedupe journal in ${settings.stateDir} (${err.reason}): make it writable by this user, or set --state-dir` });
      }
      logger.debug({ stateDir: settings.stateDir, remembered: journal.size() }, "dedupe journal open");
      metrics.journal("open");
      accepting = true;
    },
    async drain() {
      accepting = false;
      await limiter.idle();
      // The confirmations of the last writes are built and written by xmpp.js's middleware in
      // promise callbacks after our handlers return. Let them reach the socket before the closing
      // </stream:stream> does; otherwise a stored copy goes unconfirmed and is sent again (to
      // another instance, with ejabberd's several connections, which would store it twice).
      await new Promise((resolve) => setImmediate(resolve));
    },
    async close() {
      metrics.journal("closed");
      await journal?.close();
    },
  };
}
