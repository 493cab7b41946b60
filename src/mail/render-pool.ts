// Rendering in a worker thread. The component's main thread parses stanzas, runs the file system
// calls and answers the server; building the MIME message is a third of its CPU per copy
// (docs/performance.md). A worker renders while the main thread does the rest, on a second core.
// The records are plain data (structured clone); the mail comes back as bytes. If the worker dies,
// the renders it had are refused with `wait` (the server module sends those copies again) and a
// new worker takes over: a crash there never loses or drops a copy.
import { Worker } from "node:worker_threads";
import type { ArchiveRecord } from "../capture/index.js";
import { RefusedError } from "../errors.js";
import type { RenderedMail, RenderOptions } from "./render.js";

export interface RenderPool {
  render(record: ArchiveRecord, options: RenderOptions): Promise<RenderedMail>;
  close(): Promise<void>;
}

/** What the worker sends back for one request. */
export type RenderReply =
  | { readonly id: number; readonly messageId: string; readonly bytes: Uint8Array }
  | { readonly id: number; readonly error: { readonly name: string; readonly message: string } };

interface Pending {
  resolve: (mail: RenderedMail) => void;
  reject: (err: unknown) => void;
}

export function createRenderPool(options: { onWorkerError?: (err: Error) => void; /** Tests only. */ workerUrl?: URL } = {}): RenderPool {
  let worker: Worker | undefined;
  const pending = new Map<number, Pending>();
  let nextId = 0;
  let closed = false;

  function failAll(err: unknown): void {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  }

  function start(): Worker {
    const w = new Worker(options.workerUrl ?? new URL("./render-worker.js", import.meta.url));
    w.on("message", (reply: RenderReply) => {
      const p = pending.get(reply.id);
      if (!p) return;
      pending.delete(reply.id);
      if (pending.size === 0) w.unref();
      if ("error" in reply) p.reject(Object.assign(new Error(reply.error.message), { name: reply.error.name }));
      else p.resolve({ messageId: reply.messageId, bytes: Buffer.from(reply.bytes.buffer, reply.bytes.byteOffset, reply.bytes.byteLength) });
    });
    w.on("error", (err) => options.onWorkerError?.(err));
    w.on("exit", () => {
      if (worker === w) worker = undefined;
      failAll(new RefusedError("the renderer restarted", { type: "wait", condition: "resource-constraint" }));
    });
    return w;
  }

  return {
    render(record, renderOptions) {
      if (closed) return Promise.reject(new RefusedError("shutting down", { type: "wait", condition: "resource-constraint" }));
      worker ??= start();
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        // Referenced only while it has work: an idle worker must not keep the process alive.
        worker!.ref();
        worker!.postMessage({ id, record, options: renderOptions });
      });
    },
    async close() {
      closed = true;
      const w = worker;
      worker = undefined;
      if (w) await w.terminate();
      failAll(new RefusedError("shutting down", { type: "wait", condition: "resource-constraint" }));
    },
  };
}
