// Reading many small message files: open, read, close, and nothing else. A trip to libuv's thread
// pool costs more than the system call itself when the file is in the page cache, and it is most
// of what replay spends per message, so: fs/promises (a FileHandle per file) and fs.readFile (an
// fstat first) are avoided, and close is synchronous. open and read stay asynchronous, with
// several files in flight, since on a cold cache they wait for the disk.
import { closeSync, fstat, open, read } from "node:fs";

/**
 * Enough for the header block of any mail we write (about 1 kB; chat headers add a few hundred
 * bytes) and for most whole messages, so one read(2) usually does.
 */
export const FIRST_READ_BYTES = 16 * 1024;

/** The whole file. */
export function readWhole(file: string): Promise<Buffer> {
  return readFirst(file, Infinity);
}

/** The first `max` bytes of a file (all of it when it is shorter). */
export function readHead(file: string, max = FIRST_READ_BYTES): Promise<Buffer> {
  return readFirst(file, max);
}

/**
 * The bytes to look for a header block in: the head when it holds the empty line that ends the
 * block (RFC 5322 §2.1) well before its end, else the whole file, so a block longer than the
 * head reads exactly as before.
 */
export async function readHeaderBytes(file: string): Promise<Buffer> {
  const head = await readHead(file);
  if (head.length < FIRST_READ_BYTES) return head;
  const end = head.toString("latin1").search(/\r?\n\r?\n/);
  // Past this point a longer run of line breaks could start inside the head and end after it.
  return end !== -1 && end < head.length - 4 ? head : readWhole(file);
}

/** Up to `max` bytes from the start: one read for a short file, fstat and more reads for a long one. */
function readFirst(file: string, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    open(file, "r", (openError, fd) => {
      if (openError) return reject(openError);
      // Closed exactly once, on every path; the first error wins. Synchronously: close(2) of a
      // file opened for reading does not wait for the disk, and a trip through the thread pool
      // would cost more than the call.
      const finish = (error: Error | null, data?: Buffer) => {
        try {
          closeSync(fd);
        } catch (closeError) {
          error ??= closeError as Error;
        }
        if (error) reject(error);
        else resolve(data!);
      };
      const first = Buffer.allocUnsafe(Math.min(max, FIRST_READ_BYTES));
      read(fd, first, 0, first.length, 0, (readError, bytesRead) => {
        if (readError) return finish(readError);
        if (bytesRead < first.length || first.length === max) return finish(null, first.subarray(0, bytesRead));
        fstat(fd, (statError, stats) => {
          if (statError) return finish(statError);
          const whole = Buffer.allocUnsafe(Math.min(max, Math.max(stats.size, bytesRead)));
          first.copy(whole, 0, 0, bytesRead);
          readRest(fd, whole, bytesRead, finish);
        });
      });
    });
  });
}

function readRest(fd: number, buffer: Buffer, offset: number, done: (error: Error | null, data?: Buffer) => void): void {
  if (offset === buffer.length) return done(null, buffer);
  read(fd, buffer, offset, buffer.length - offset, offset, (error, bytesRead) => {
    if (error) return done(error);
    // Shorter than fstat said (truncated meanwhile): what is there.
    if (bytesRead === 0) return done(null, buffer.subarray(0, offset));
    readRest(fd, buffer, offset + bytesRead, done);
  });
}
