// One floor row of ./steady.ts, in a process of its own: `node steady-child.js KIND DIR COUNT`.
// Renders COUNT of the bench's mails, creates the users' Maildirs, then delivers them paced at
// STEADY_RATE with WINDOW in flight and prints one JSON line (a FloorRow) on stdout.
import { closeSync, fsync, open, openSync, renameSync, writeSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { openJournal } from "../src/dedupe/index.js";
import { createMaildirWriter } from "../src/maildir/index.js";
import { copies, pace, percentile, renderAll, STEADY_RATE, USERS, WINDOW, type FloorKind, type FloorRow } from "./steady.js";

const [kind, dir, countArg] = process.argv.slice(2) as [FloorKind, string, string];
const count = Number(countArg);

function poolCall<T>(start: (done: (err: NodeJS.ErrnoException | null, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => start((err, value) => (err ? reject(err) : resolve(value as T))));
}

/**
 * The disk's floor: every step a durable Maildir delivery needs, nothing shared between mails.
 * What waits for the disk or the file system's journal (the create, both fsyncs) runs in libuv's
 * pool; the page-cache steps (write, close, rename, the directory's open) on this thread.
 */
async function bareWrite(maildir: string, name: string, mail: Buffer): Promise<void> {
  const tmp = path.join(maildir, "tmp", name);
  const fd = await poolCall<number>((done) => open(tmp, "wx", 0o600, done));
  for (let off = 0; off < mail.length; ) off += writeSync(fd, mail, off, mail.length - off);
  await poolCall<void>((done) => fsync(fd, done));
  closeSync(fd);
  renameSync(tmp, path.join(maildir, "new", name));
  const dirFd = openSync(path.join(maildir, "new"), "r");
  await poolCall<void>((done) => fsync(dirFd, done));
  closeSync(dirFd);
}

async function main(): Promise<void> {
  const mails = await renderAll(copies(count, `f-${kind}`));
  const maildirs = Array.from({ length: USERS }, (_, u) => path.join(dir, `u${u}`, "Maildir"));
  for (const m of maildirs) for (const sub of ["tmp", "new", "cur"]) await mkdir(path.join(m, sub), { recursive: true, mode: 0o700 });
  const writer = createMaildirWriter();
  const journal = kind === "writer+journal" ? await openJournal(path.join(dir, ".state")) : undefined;
  const one = async (i: number): Promise<void> => {
    const maildir = maildirs[i % USERS]!;
    if (kind === "bare") return bareWrite(maildir, `${Date.now()}.M${i}P${process.pid}.bench,S=${mails[i]!.length}`, mails[i]!);
    const key = `k${i}`;
    await writer.deliver(maildir, mails[i]!, journal ? { beforeRename: (final) => journal.prepare(key, final) } : {});
    journal?.commit(key);
  };
  // Warm up (the writer's folder cache, the JIT), then measure.
  await Promise.all(Array.from({ length: USERS }, (_, u) => writer.deliver(maildirs[u]!, mails[u]!)));
  const cpu = process.cpuUsage();
  const run = await pace(count, STEADY_RATE, WINDOW, one);
  const used = process.cpuUsage(cpu);
  await journal?.close();
  const row: FloorRow = {
    kind,
    rate: count / run.seconds,
    p50: percentile(run.latencies, 50),
    p99: percentile(run.latencies, 99),
    max: Math.max(...run.latencies),
    dueP99: percentile(run.dueLatencies, 99),
    userUs: used.user / count,
    sysUs: used.system / count,
  };
  console.log(JSON.stringify(row));
}

await main();
