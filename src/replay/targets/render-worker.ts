// The worker side of ./render-pool.ts: renders what it is sent, one message at a time, in order.
import { parentPort } from "node:worker_threads";
import type { ArchiveRecord } from "../../capture/index.js";
import { renderMail, type RenderOptions } from "../../mail/index.js";
import type { RenderReply } from "./render-pool.js";

// Loaded any other way (a test runner globbing dist/), it does nothing.
const port = parentPort;
port?.on("message", (request: { id: number; record: ArchiveRecord; options: RenderOptions }) => {
  renderMail(request.record, request.options).then(
    (mail) => {
      // Its own ArrayBuffer (a small Buffer lives in Node's shared pool), moved, not copied.
      const bytes = new Uint8Array(mail.bytes);
      port!.postMessage({ id: request.id, messageId: mail.messageId, bytes } satisfies RenderReply, [bytes.buffer]);
    },
    (err: Error) => port!.postMessage({ id: request.id, error: { name: err.name, message: err.message } } satisfies RenderReply),
  );
});
