// The worker side of ./render-pool.ts: renders the batches it is sent, one mail at a time, in
// order, and answers each batch with one message (the mails' bytes moved, not copied). Before
// each render it writes the request's id into the shared slot the pool gave it (workerData), so a
// thread that dies mid-batch is blamed for the mail it was rendering, not for the first of the
// batch it had not answered yet. A request that carries a row (`load`) is loaded here first, with
// the same function the main thread would have run (sources/sql/archived.ts).
import { parentPort, workerData } from "node:worker_threads";
import type { ArchiveRecord } from "../../capture/index.js";
import { MalformedError } from "../../errors.js";
import type { RenderedMail, RenderOptions } from "../../mail/index.js";
import { loadArchived } from "../sources/sql/archived.js";
import type { RenderReply, RenderRequest } from "./render-pool.js";

export type Render = (record: ArchiveRecord, options: RenderOptions) => Promise<RenderedMail>;

/** Serves the pool's batches with `render` (the real renderMail, or a test's). */
export function serveRenders(render: Render): void {
  const port = parentPort;
  // Loaded any other way (a test runner globbing dist/), it does nothing.
  if (!port) return;
  const current = new Float64Array((workerData as { current: SharedArrayBuffer }).current);
  // One batch at a time, in order: a batch that comes while one renders waits behind it.
  let queue: Promise<void> = Promise.resolve();
  port.on("message", (batch: RenderRequest[]) => {
    queue = queue.then(async () => {
      const replies: RenderReply[] = [];
      const moved: ArrayBuffer[] = [];
      for (const request of batch) {
        current[0] = request.id;
        try {
          const reply = await serve(request, render);
          replies.push(reply);
          if ("bytes" in reply) moved.push(reply.bytes.buffer as ArrayBuffer);
        } catch (err) {
          if (err instanceof MalformedError) {
            replies.push({ id: request.id, malformed: { location: err.location, reason: err.reason } });
          } else {
            replies.push({ id: request.id, error: { name: (err as Error).name, message: (err as Error).message } });
          }
        }
      }
      current[0] = -1;
      port.postMessage(replies, moved);
    });
  });
}

async function serve(request: RenderRequest, render: Render): Promise<RenderReply> {
  let record: ArchiveRecord;
  if ("load" in request) {
    const loaded = loadArchived(request.load.row, request.load.domains);
    if (loaded.kind === "skip") return { id: request.id, skip: loaded.reason };
    if (loaded.kind !== "record") throw new Error(`a row loaded into a ${loaded.kind} record`);
    record = loaded.record;
  } else {
    record = request.record;
  }
  const mail = await render(record, request.options);
  // Its own ArrayBuffer (a small Buffer lives in Node's shared pool), so it can be moved.
  const bytes = new Uint8Array(mail.bytes);
  if (!("load" in request)) return { id: request.id, messageId: mail.messageId, bytes };
  const { owner, from, to, type, time, placement } = record;
  return { id: request.id, messageId: mail.messageId, bytes, facts: { owner, from, to, type, time, placement } };
}
