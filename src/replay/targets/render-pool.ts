// Rendering on worker threads for bulk writes into a Maildir (import, replay --to-maildir). The
// MIME build is pure CPU given a record, and the largest part of an import's main thread
// (docs/performance.md); on a machine with a spare core, workers render while the main thread
// reads rows, parses stanzas and does the file system calls. (The live component tried this and
// dropped it: there the second core is busy with the XMPP server. An import has it to itself.)
// Records go to a worker by structured clone, in batches (all asked for in one turn of the event
// loop, up to BATCH: one message each way per batch instead of per mail, ./render-serve.ts); the
// mails come back as bytes, moved, not copied.
// A database row's entry can also be sent as the row itself (SourceEntry.portable): the worker
// parses it into the record and renders it, and answers with the mail and the few facts of the
// record that selection and filing need (RecordSummary), so the stanza parse, capture's
// recordFromMessage and the record's structured clone leave the main thread, which is an import's
// limit (docs/performance.md, issue #16 item 7). A row that cannot be read comes back as the same
// MalformedError (its row id named) that loading it on the main thread gives.
// A render that throws fails its own mail only; a worker that dies fails the render it was doing
// (its id is in a slot shared with the worker), and its other renders go to a new worker. A failed
// render is a failed delivery, logged with its row and not checkpointed, so the next run does it
// again: nothing is lost.
import os from "node:os";
import { Worker } from "node:worker_threads";
import type { ArchiveRecord } from "../../capture/index.js";
import { MalformedError } from "../../errors.js";
import type { RenderedMail, RenderOptions } from "../../mail/index.js";
import type { Loaded, PortableLoad, RecordSummary } from "../types.js";

/** Renders sent to a worker in one message, at most: enough to share a message's cost, few enough that the worker starts while the main thread reads on. */
const BATCH = 32;

export interface RenderPool {
  render(record: ArchiveRecord, options: RenderOptions): Promise<RenderedMail>;
  /**
   * Loads a portable entry on a worker and renders its record there: a skip, or the mail and its
   * record's facts. Optional: a pool without it (a test's, the bench's) gets records only.
   */
  prerender?(load: PortableLoad, options: RenderOptions): Promise<Loaded>;
  /** Stops the workers; renders still running fail. Idempotent. */
  close(): Promise<void>;
}

/** One render asked of a worker (of a record, or of a row it loads first); a worker is sent them in arrays. */
export type RenderRequest =
  | { readonly id: number; readonly record: ArchiveRecord; readonly options: RenderOptions }
  | { readonly id: number; readonly load: PortableLoad; readonly options: RenderOptions };

/** What a worker sends back for one request; it answers a batch with an array of them. */
export type RenderReply =
  /** `facts` only for a request with `load`. */
  | { readonly id: number; readonly messageId: string; readonly bytes: Uint8Array; readonly facts?: RecordSummary }
  /** A loaded row that is not archived (Loaded's skip). */
  | { readonly id: number; readonly skip: string }
  | { readonly id: number; readonly malformed: { readonly location: string; readonly reason: string } }
  | { readonly id: number; readonly error: { readonly name: string; readonly message: string } };

export interface RenderPoolOptions {
  /** Worker threads. */
  readonly size: number;
  /** Tests only: another worker script. */
  readonly workerUrl?: URL;
}

/**
 * Workers worth starting here: one per core beyond the main thread's, at most 3 (past that the
 * main thread, which does everything else, is the limit). 0 on one core: render inline.
 */
export function defaultRenderThreads(): number {
  return Math.min(3, Math.max(0, os.availableParallelism() - 1));
}

interface Pending {
  readonly request: RenderRequest;
  readonly resolve: (value: RenderedMail | Loaded) => void;
  readonly reject: (err: unknown) => void;
  /** Set once the worker answered (or died); settled only when every earlier render is. */
  outcome?: { readonly value: RenderedMail | Loaded } | { readonly error: Error };
}

interface Slot {
  worker: Worker | undefined;
  /** Ids of the renders this worker has (sent, or waiting in `outbox`). */
  readonly ids: Set<number>;
  /** Asked for in this turn of the event loop, not sent yet. */
  outbox: RenderRequest[];
  /** The id the worker is rendering (-1: none), written by the worker: whom to blame if it dies. */
  readonly current: Float64Array;
}

export function createRenderPool(options: RenderPoolOptions): RenderPool {
  const url = options.workerUrl ?? new URL("./render-worker.js", import.meta.url);
  const slots: Slot[] = Array.from({ length: Math.max(1, options.size) }, () => ({
    worker: undefined, ids: new Set<number>(), outbox: [], current: new Float64Array(new SharedArrayBuffer(8)),
  }));
  // Renders settle in the order they were asked for, whichever worker finishes first: the writer
  // names files (and Dovecot gives UIDs) in the order deliveries reach it, as with inline renders.
  const waiting = new Map<number, Pending>();
  let head = 0;
  let nextId = 0;
  let closed = false;

  function settleInOrder(): void {
    for (let p = waiting.get(head); p?.outcome; p = waiting.get(head)) {
      waiting.delete(head);
      head += 1;
      if ("value" in p.outcome) p.resolve(p.outcome.value);
      else p.reject(p.outcome.error);
    }
  }

  function failAll(slot: Slot, error: Error): void {
    for (const id of slot.ids) {
      const p = waiting.get(id);
      if (p) p.outcome = { error };
    }
    slot.ids.clear();
    settleInOrder();
  }

  function send(slot: Slot, p: Pending): void {
    slot.ids.add(p.request.id);
    slot.outbox.push(p.request);
    if (slot.outbox.length >= BATCH) flush(slot);
    else if (slot.outbox.length === 1) setImmediate(flush, slot);
  }

  function flush(slot: Slot): void {
    if (slot.outbox.length === 0 || closed) return;
    const worker = (slot.worker ??= start(slot));
    const batch = slot.outbox;
    slot.outbox = [];
    worker.ref();
    worker.postMessage(batch);
  }

  function start(slot: Slot): Worker {
    slot.current[0] = -1;
    const w = new Worker(url, { workerData: { current: slot.current.buffer } });
    w.on("message", (replies: RenderReply[]) => {
      for (const reply of replies) {
        const p = waiting.get(reply.id);
        if (!p || !slot.ids.delete(reply.id)) continue;
        p.outcome = outcomeOf(reply);
      }
      // Referenced only while it has work: an idle pool must not keep the process alive.
      if (slot.ids.size === 0) w.unref();
      settleInOrder();
    });
    // 'error' (an uncaught exception in the worker) is followed by 'exit', handled there.
    w.on("error", () => undefined);
    w.on("exit", (code) => {
      if (slot.worker === w) slot.worker = undefined;
      if (closed) return failAll(slot, new Error("the import is stopping"));
      // The one it was rendering (or, if it died between renders, the oldest it had); the rest,
      // answered or not yet rendered, go to a new worker, after what is already waiting to go.
      const queued = new Set(slot.outbox.map((r) => r.id));
      const sent = [...slot.ids].filter((id) => !queued.has(id)).sort((a, b) => a - b);
      const suspect = sent.includes(slot.current[0]!) ? slot.current[0]! : sent[0];
      slot.ids.clear();
      const p = suspect === undefined ? undefined : waiting.get(suspect);
      if (p) p.outcome = { error: new Error(`the render worker stopped (exit code ${code}) while rendering this message; it was not written`) };
      const again = sent.filter((id) => id !== suspect).map((id) => waiting.get(id)!.request);
      slot.outbox = [...again, ...slot.outbox];
      for (const r of slot.outbox) slot.ids.add(r.id);
      flush(slot);
      settleInOrder();
    });
    return w;
  }

  function ask(request: { readonly record: ArchiveRecord } | { readonly load: PortableLoad }, renderOptions: RenderOptions): Promise<RenderedMail | Loaded> {
    if (closed) return Promise.reject(new Error("the render pool is closed"));
    // The worker with the fewest renders waiting: records of very different sizes stay balanced.
    let slot = slots[0]!;
    for (const s of slots) if (s.ids.size < slot.ids.size) slot = s;
    const id = nextId++;
    return new Promise((resolve, reject) => {
      const p: Pending = { request: { id, ...request, options: renderOptions }, resolve, reject };
      waiting.set(id, p);
      send(slot, p);
    });
  }

  return {
    render: (record, renderOptions) => ask({ record }, renderOptions) as Promise<RenderedMail>,
    prerender: (load, renderOptions) => ask({ load }, renderOptions) as Promise<Loaded>,
    async close() {
      closed = true;
      await Promise.all(
        slots.map(async (slot) => {
          const w = slot.worker;
          slot.worker = undefined;
          slot.outbox = [];
          if (w) await w.terminate();
          failAll(slot, new Error("the import is stopping"));
        }),
      );
    },
  };
}

function outcomeOf(reply: RenderReply): NonNullable<Pending["outcome"]> {
  if ("error" in reply) return { error: Object.assign(new Error(reply.error.message), { name: reply.error.name }) };
  if ("malformed" in reply) return { error: new MalformedError(reply.malformed.location, reply.malformed.reason) };
  if ("skip" in reply) return { value: { kind: "skip", reason: reply.skip } };
  const mail: RenderedMail = { messageId: reply.messageId, bytes: Buffer.from(reply.bytes.buffer, reply.bytes.byteOffset, reply.bytes.byteLength) };
  return { value: reply.facts ? { kind: "rendered", facts: reply.facts, mail } : mail };
}
