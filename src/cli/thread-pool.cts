// The size of libuv's thread pool for the commands that write mail (src/cli/bin.cts sets it; the
// benches give their children the same). Every fsync holds one pool thread until the disk has the
// data, and the pool is shared with everything else that waits for the file system (creates, the
// directory and journal syncs); with libuv's default of 4 threads the fsyncs queue behind each other:
// - A bulk write (import, replay into a Maildir) fsyncs a whole batch of mails at once; with 4
//   threads, 4 mails share a journal commit and the import waits on the disk (docs/performance.md,
//   "helper import7": the write path alone did 1,450-3,100 mails/s with 4 threads, 3,000-5,000/s
//   with 16).
// - The live component (run) keeps up to 64 copies in flight, each with a create, an fsync, a
//   journal sync and a directory fsync in the pool: with 4 threads a copy at a steady 1,000/s spent
//   most of its time queued for a thread, and the component fell behind that pace in 6 of 9 runs
//   against 2 of 9 with 16 (docs/performance.md, "helper floor8").
// CommonJS, like bin.cts, which loads it before main.js.
export const POOLED_COMMANDS: ReadonlySet<string> = new Set(["import", "replay", "run"]);
/** Threads, i.e. fsyncs in flight at once: more was no better in the same measurements. */
export const THREAD_POOL_SIZE = "16";
