#!/usr/bin/env node
// The installed command (package.json "bin"): sizes libuv's thread pool, then runs ./main.js.
// Every fsync holds one pool thread until the disk has the data, and the thread pool is shared by
// everything else that waits for the file system (creates, the directory and journal syncs); with
// libuv's default of 4 threads the fsyncs queue behind each other:
// - A bulk write (import, replay into a Maildir) fsyncs a whole batch of mails at once; with 4
//   threads, 4 mails share a commit and the import waits on the disk (docs/performance.md,
//   "helper import7": the write path alone did 1,450-3,100 mails/s with 4 threads, 3,000-5,000/s
//   with 16).
// - The live component (run) keeps up to 64 copies in flight, each with a create, an fsync, a
//   journal sync and a directory fsync in the pool: with 4 threads a copy at a steady 1,000/s spent
//   most of its time queued for a thread (docs/performance.md, "helper floor8").
// The size can only be set before the pool starts, and in an ES module Node's loader has started
// it before the first line runs, hence this CommonJS file. A size the user set wins.
const POOLED_COMMANDS = new Set(["import", "replay", "run"]);
/** Threads, i.e. fsyncs in flight at once: more was no better in the same measurements. */
const THREAD_POOL = "16";

const command = process.argv.slice(2).find((arg) => !arg.startsWith("-"));
if (command !== undefined && POOLED_COMMANDS.has(command)) process.env.UV_THREADPOOL_SIZE ??= THREAD_POOL;
void import("./main.js");
