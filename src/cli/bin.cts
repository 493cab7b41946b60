#!/usr/bin/env node
// The installed command (package.json "bin"): sizes libuv's thread pool, then runs ./main.js.
// A bulk write (import, replay into a Maildir) fsyncs a whole batch of mails at once, and each
// fsync holds one pool thread until the file system's journal commits it; with libuv's default of
// 4 threads, 4 mails share a commit and the import waits on the disk (docs/performance.md,
// "helper import7": the write path alone did 1,450-3,100 mails/s with 4 threads, 3,000-5,000/s
// with 16). The size can only be set before the pool starts, and in an ES module Node's loader
// has started it before the first line runs, hence this CommonJS file. A size the user set wins.
const BULK_COMMANDS = new Set(["import", "replay"]);
/** Threads, i.e. fsyncs in flight at once: more was no better in the same measurement. */
const BULK_THREAD_POOL = "16";

const command = process.argv.slice(2).find((arg) => !arg.startsWith("-"));
if (command !== undefined && BULK_COMMANDS.has(command)) process.env.UV_THREADPOOL_SIZE ??= BULK_THREAD_POOL;
void import("./main.js");
