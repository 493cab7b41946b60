// The size of libuv's thread pool for the bulk commands (src/cli/bin.cts sets it; bench/replay.ts
// gives its import child the same). A bulk write (import, replay into a Maildir) fsyncs a whole
// batch of mails at once, and each fsync holds one pool thread until the file system's journal
// commits it; with libuv's default of 4 threads, 4 mails share a commit and the import waits on the
// disk (docs/performance.md, "helper import7": the write path alone did 1,450-3,100 mails/s with 4
// threads, 3,000-5,000/s with 16). CommonJS, like bin.cts, which loads it before main.js.
export const BULK_COMMANDS: ReadonlySet<string> = new Set(["import", "replay"]);
/** Threads, i.e. fsyncs in flight at once: more was no better in the same measurement. */
export const BULK_THREAD_POOL = "16";
