// The file system calls of a Maildir write, without FileHandles: the write, close and rename of a
// small file are page-cache work done on the calling thread; the fsyncs, which wait for the disk,
// go to libuv's pool, and so does the live component's create (writeTmp: it waits for the file
// system's journal). Measured (docs/performance.md, 2026-12-02, the import's write path, and
// "store7"): fs/promises' open, writeFile, sync and close, one pool job each with several mails
// in flight, cost about twice the CPU per mail (pool threads contending for the tmp/ directory,
// FileHandle objects and their promises).
import { closeSync, fsync, open, openSync, unlinkSync, writeSync } from "node:fs";

/** Mail is private to the mail user. */
const FILE_MODE = 0o600;

/**
 * Creates `tmp` and writes the whole message into it; the file is left open for its fsync. On a
 * failure nothing is left behind (the file is closed and removed) and the error is thrown.
 */
export function writeTmpSync(tmp: string, message: Buffer): number {
  // 'wx' = O_CREAT|O_EXCL: never overwrite, even if a name ever repeated.
  return writeAll(openSync(tmp, "wx", FILE_MODE), tmp, message);
}

/**
 * The same, with the create in the thread pool. While other mails' fsyncs force journal commits
 * one after the other (the live component, 64 in flight), creating a file waits for the file
 * system's journal: measured at about a third of the main thread's time, some 350 µs per mail,
 * in a `bench` profile (docs/performance.md, store7), against a few µs for the write itself.
 */
export function writeTmp(tmp: string, message: Buffer): Promise<number> {
  return new Promise((resolve, reject) =>
    open(tmp, "wx", FILE_MODE, (err, fd) => {
      if (err) return reject(err);
      try {
        resolve(writeAll(fd, tmp, message));
      } catch (failed) {
        reject(failed);
      }
    }),
  );
}

function writeAll(fd: number, tmp: string, message: Buffer): number {
  try {
    for (let off = 0; off < message.length; ) off += writeSync(fd, message, off, message.length - off);
    return fd;
  } catch (err) {
    closeQuietly(fd);
    unlinkQuietly(tmp);
    throw err;
  }
}

/** fsync(2) in the thread pool. */
export function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
}

/**
 * Syncs `fd` with `sync` (none: just closes it), then closes it. On a failure the descriptor is
 * closed exactly once (a failed close(2) has released it already, and its number may belong to
 * another file by then) and the error is thrown.
 */
export async function syncAndClose(fd: number, sync?: (fd: number) => Promise<void>): Promise<void> {
  let open = true;
  try {
    if (sync) await sync(fd);
    open = false;
    closeSync(fd);
  } catch (err) {
    if (open) closeQuietly(fd);
    throw err;
  }
}

/** Closes `fd` once, for a path that reports another error (or none is worth reporting). */
export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // The caller's error is the one to report; the descriptor is released either way (close(2)).
  }
}

export function unlinkQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // Already gone: nothing to clean.
  }
}

/** fsync of a directory (what makes a rename into it durable). */
export async function syncDir(dir: string): Promise<void> {
  const fd = openSync(dir, "r");
  try {
    await fsyncFd(fd);
  } finally {
    closeQuietly(fd);
  }
}
