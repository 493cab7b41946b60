// The worker side of ./render-pool.ts: renders what it is sent, one message at a time, in order;
// with a tmp/ path, writes the mail there, fsyncs and closes it (the fsync in libuv's pool, so
// the next message renders meanwhile), and answers with its size.
import { close, fsync } from "node:fs";
import { unlink } from "node:fs/promises";
import { promisify } from "node:util";
import { parentPort, workerData } from "node:worker_threads";
import { renderMail, type RenderedMail } from "../../mail/index.js";
import { writeTmpSync } from "../../maildir/index.js";
import { NOT_BUSY, type RenderReply, type RenderRequest } from "./render-pool.js";

const fsyncFd = promisify(fsync);
const closeFd = promisify(close);

// Loaded any other way (a test runner globbing dist/), it does nothing.
const port = parentPort;
port?.on("message", (request: RenderRequest) => {
  answer(request).catch((err: NodeJS.ErrnoException) => {
    // The errno code of a failed write (ENOSPC) goes back with it: a storage error, not a bad row.
    const error = { name: err.name, message: err.message, ...(typeof err.code === "string" ? { code: err.code } : {}) };
    port!.postMessage({ id: request.id, error } satisfies RenderReply);
  });
});

/** Which message this thread is rendering and writing now (the pool's Slot.busy). */
const busy = (workerData as { busy?: Int32Array } | undefined)?.busy;

async function answer(request: RenderRequest): Promise<void> {
  // No other message is handled between this and the end of the write: the render and the
  // write are synchronous (renderMail's promise is settled when it returns).
  if (busy) Atomics.store(busy, 0, request.id | 0);
  let mail: RenderedMail;
  let fd: number;
  try {
    mail = await renderMail(request.record, request.options);
    if (request.tmp === undefined) return reply(request, mail);
    fd = writeTmpSync(request.tmp, mail.bytes);
  } finally {
    if (busy) Atomics.store(busy, 0, NOT_BUSY);
  }
  await syncAndClose(request.tmp, fd);
  port!.postMessage({ id: request.id, messageId: mail.messageId, size: mail.bytes.length, written: true } satisfies RenderReply);
}

function reply(request: RenderRequest, mail: RenderedMail): void {
  // Its own ArrayBuffer (a small Buffer lives in Node's shared pool), moved, not copied.
  const bytes = new Uint8Array(mail.bytes);
  port!.postMessage({ id: request.id, messageId: mail.messageId, bytes } satisfies RenderReply, [bytes.buffer]);
}

async function syncAndClose(tmp: string, fd: number): Promise<void> {
  try {
    await fsyncFd(fd);
  } catch (err) {
    await closeFd(fd).catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await closeFd(fd);
}
