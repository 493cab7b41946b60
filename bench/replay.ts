// `npm run bench:replay`: replay of a Maildir to NDJSON (index, read, stanza part, stanza parse,
// JSON) against reading the same files raw (each file once, read whole the way replay reads a
// message, with as many in flight as replay's index reads), in the
// same run and on the same files. Each measurement runs in its own process, so its peak RSS is
// its own. The Maildir grows through the sizes (default 10,000 then 100,000 messages) so the RSS
// of the two can be compared: replay keeps a small index entry per message, nothing more.
//
//   BENCH_REPLAY_MESSAGES=2000,20000   other sizes (ascending)
//   BENCH_REPLAY_LIB=/path/to/dist/src/replay/index.js   replay with another build (a before/after)
//   BENCH_CPU_PROF=/tmp/prof           write a .cpuprofile of each replay there
//   BENCH_CPU_PROF_KINDS=import        ... of these measurements instead (read, replay, import; comma-separated)
//   BENCH_REPLAY_KINDS=replay,import   run only these measurements (default all three; the import
//                                      row's ratio needs replay)
//   BENCH_RENDER_THREADS=0             the import's render worker threads (default: one per spare core)
//   BENCH_IMPORT_NO_RENDER=1           the import without the MIME build: every row gets the same
//                                      3 kB mail (own Message-ID), to see what everything else costs
//   BENCH_IMPORT_NODE_ARGS="--trace-gc"  node flags for the import's process (its output before the result goes to stderr)
//   UV_THREADPOOL_SIZE=4               the import's libuv thread pool (default 16, as the installed
//                                      command gives `import`: src/cli/bin.cts)
//
// The import row: `xmpp-maildir import` of an ejabberd SQL archive (SQLite, the new multi-host
// schema) holding the same N messages, streamed into a real Maildir (fsync'd writes, Chats,
// \Seen), as a ratio to the replay row of the same run.
//
// Shared machines are noisy: compare the ratio to raw reads, not the absolute rates. CPU time per
// message (all threads of the process) moves less than the rates when other work competes.
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { fileURLToPath, pathToFileURL } from "node:url";
import { captureCopy } from "../src/capture/index.js";
// libuv's thread pool of `xmpp-maildir import`, as src/cli/bin.cts gives it; UV_THREADPOOL_SIZE overrides.
import { THREAD_POOL_SIZE } from "../src/cli/thread-pool.cjs";
import { createLogger } from "../src/log/index.js";
import { renderMail } from "../src/mail/index.js";
import { listMessages } from "../src/maildir/index.js";
import { readWhole } from "../src/maildir/files.js";
import { mapLimit } from "../src/replay/limit.js";
import { copyIq } from "../test/support/stanzas.js";
import { schedstatMs } from "./proc-stat.js";
import { fileSystemLine, runOnBenchFs } from "./bench-fs.js";

const SIZES = (process.env.BENCH_REPLAY_MESSAGES ?? process.env.BENCH_COUNT ?? "10000,100000").split(",").map(Number);
/** Distinct mails rendered; the Maildir holds copies of them, so building it costs file writes only. */
const DISTINCT = 300;
/** As many reads in flight for the raw baseline as replay's own index reads. */
const READ_CONCURRENCY = 32;
const KINDS = new Set((process.env.BENCH_REPLAY_KINDS ?? "read,replay,import").split(","));
const PROF_KINDS = new Set((process.env.BENCH_CPU_PROF_KINDS ?? "replay").split(","));
/** A measurement not run: rates and ratios print as 0 / NaN. */
const SKIPPED: Measurement = { ms: NaN, cpuMs: NaN, messages: 0, bytes: 0, rssMb: 0 };
const DOMAIN = "archive.example.org";

interface Measurement {
  readonly ms: number;
  /** CPU time of the whole process (all threads, user + system), while measuring. */
  readonly cpuMs: number;
  readonly messages: number;
  readonly bytes: number;
  readonly rssMb: number;
  /** Per thread, from /proc/self/task/<tid>/schedstat: the main thread's ms on a CPU and queued for one, and the busiest other thread's (the render worker) ms on a CPU. */
  readonly threads?: { readonly mainMs: number; readonly mainWaitMs: number; readonly otherMs: number };
}

if (process.argv[2] === "--child") await child(process.argv[3]!, process.argv[4]!);
// BENCH_FS=ext4: the same run on a fresh journaled ext4 (./bench-fs.ts).
else if (!(await runOnBenchFs())) await main();

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "xmd-bench-replay-"));
  try {
    const maildir = path.join(dir, "Maildir");
    const mails = await distinctMails();
    console.log(fileSystemLine());
    console.log(`${DISTINCT} distinct mails, ${Math.round(mails.reduce((n, m) => n + m.length, 0) / mails.length)} bytes on average (one in six with HTML and an attachment)`);
    console.log("       N    raw_read/s    replay/s   ratio   cpu_µs/msg(read)  cpu_µs/msg(replay)   rss_MB(read)   rss_MB(replay)   import/s  import/replay  rss_MB(import)");
    let written = 0;
    let last: { replay: Measurement; ratio: number; imported: Measurement } | undefined;
    const stanzas = distinctStanzas();
    let importRows = 0;
    for (const size of SIZES) {
      if (KINDS.has("read") || KINDS.has("replay")) await writeCopies(maildir, mails, written, size);
      written = size;
      const read = KINDS.has("read") ? await measure("read", maildir) : { ...SKIPPED, messages: size };
      const replay = KINDS.has("replay") ? await measure("replay", maildir) : { ...SKIPPED, messages: size };
      let imported: Measurement = { ...SKIPPED, messages: size };
      if (KINDS.has("import")) {
        await writeArchiveRows(path.join(dir, "ejabberd.db"), stanzas, importRows, size);
        importRows = size;
        await rm(path.join(dir, "imported"), { recursive: true, force: true });
        imported = await measure("import", dir);
      }
      if (replay.messages !== size || read.messages !== size || imported.messages !== size) {
        throw new Error(`expected ${size} messages, read ${read.messages}, replayed ${replay.messages}, imported ${imported.messages}`);
      }
      const ratio = rate(replay) / rate(read);
      const cpu = (m: Measurement) => ((m.cpuMs * 1000) / m.messages).toFixed(0);
      console.log(
        `${String(size).padStart(8)}  ${String(rate(read)).padStart(12)}  ${String(rate(replay)).padStart(10)}   ${ratio.toFixed(2)}` +
          `   ${cpu(read).padStart(16)}  ${cpu(replay).padStart(18)}   ${String(read.rssMb).padStart(12)}   ${String(replay.rssMb).padStart(14)}` +
          `   ${String(rate(imported)).padStart(8)}  ${(rate(imported) / rate(replay)).toFixed(2).padStart(13)}  ${String(imported.rssMb).padStart(14)}`,
      );
      last = { replay, ratio, imported };
    }
    if (last) {
      console.log(`replay_per_s=${rate(last.replay)} ratio_vs_read=${last.ratio.toFixed(2)} rss_mb=${last.replay.rssMb}`);
      // CPU per message against wall time per message shows whether the import waits on the disk
      // (each mail is fsync'd before its rename, as live delivery does) or on itself.
      const cpuPerMsg = (last.imported.cpuMs * 1000) / last.imported.messages;
      console.log(`import_per_s=${rate(last.imported)} import_vs_replay=${(rate(last.imported) / rate(last.replay)).toFixed(2)} import_rss_mb=${last.imported.rssMb} import_cpu_us_per_msg=${cpuPerMsg.toFixed(0)}`);
      // The main thread is the import's limit when its share of the wall time (on a CPU + queued) nears 1.
      const t = last.imported.threads;
      if (t) {
        const per = (ms: number) => ((ms * 1000) / last!.imported.messages).toFixed(0);
        console.log(`import_main_cpu_us_per_msg=${per(t.mainMs)} import_main_queued_us_per_msg=${per(t.mainWaitMs)} import_main_busy=${((t.mainMs + t.mainWaitMs) / last.imported.ms).toFixed(2)} import_worker_cpu_us_per_msg=${per(t.otherMs)}`);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function rate(m: Measurement): number {
  return Math.round(m.messages / (m.ms / 1000));
}

/** Chats of 20 B to 1.2 kB, multi-line and non-ASCII ones among them; one in six with HTML and an image. */
function distinctStanzas(): string[] {
  return Array.from({ length: DISTINCT }, (_, i) => innerStanza(i));
}

function innerStanza(i: number): string {
  const unit = i % 3 === 0 ? "Grüße aus Köln ☕ " : i % 3 === 1 ? "see you at eight, ok?\n" : "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ";
  const body = unit.repeat(Math.max(1, Math.round((20 + ((i * 7919) % 1200)) / unit.length))).replace(/&/g, "&amp;").replace(/</g, "&lt;");
  const rich = i % 6 === 0
    ? `<html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'><p>${body.slice(0, 80)}<img src='cid:sha1+${i}@bob.xmpp.org' alt='x'/></p></body></html>` +
      `<data xmlns='urn:xmpp:bob' cid='sha1+${i}@bob.xmpp.org' type='image/png'>${Buffer.alloc(300, i).toString("base64")}</data>`
    : "";
  return `<message xmlns='jabber:client' from='peer${i % 17}@example.net/r' to='alice@example.org/p' type='chat' id='m${i}'><body>${body}</body>${rich}</message>`;
}

/** ejabberd's archive table (sql/lite.new.sql), rows from..to-1: the distinct stanzas with ids made unique per row. */
async function writeArchiveRows(file: string, stanzas: string[], from: number, to: number): Promise<void> {
  const { default: Database } = await import("better-sqlite3");
  const db = new Database(file);
  try {
    db.exec(`CREATE TABLE IF NOT EXISTS archive (username text NOT NULL, server_host text NOT NULL, timestamp BIGINT UNSIGNED NOT NULL, peer text NOT NULL,
      bare_peer text NOT NULL, xml text NOT NULL, txt text, id INTEGER PRIMARY KEY AUTOINCREMENT, kind text, nick text, created_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP)`);
    const insert = db.prepare("INSERT INTO archive (username, server_host, timestamp, peer, bare_peer, xml, txt, kind, nick) VALUES ('alice', 'example.org', ?, ?, ?, ?, '', 'chat', '')");
    db.transaction(() => {
      for (let i = from; i < to; i++) {
        const peer = `peer${(i % DISTINCT) % 17}@example.net`;
        insert.run(1_767_225_600_000_000 + i * 1000, `${peer}/r`, peer, stanzas[i % stanzas.length]!.replace(/ id='m\d+'/, ` id='r${i}'`));
      }
    })();
  } finally {
    db.close();
  }
}

async function distinctMails(): Promise<Buffer[]> {
  const ctx = { componentDomain: DOMAIN, userDomain: "example.org", now: new Date(), maxStanzaBytes: 1 << 20, chat: { history: true, groupchat: true, folder: "Chats", keywords: true } };
  const mails: Buffer[] = [];
  for (let i = 0; i < DISTINCT; i++) {
    const inner = innerStanza(i);
    const stamp = new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString();
    const result = captureCopy(copyIq({ inner, stamp, reason: "chat" }), ctx);
    if (result.kind !== "archive") throw new Error(`mail ${i} not archived`);
    mails.push((await renderMail(result.record, { domain: DOMAIN, ...(i % 6 === 0 ? { chat: { maxAttachmentBytes: 4096 } } : {}) })).bytes);
  }
  return mails;
}

/** Copies from..to-1, named like Maildir deliveries, half in new/ and half in cur/ (seen); no fsync. */
async function writeCopies(maildir: string, mails: Buffer[], from: number, to: number): Promise<void> {
  await Promise.all(["new", "cur", "tmp"].map((sub) => mkdir(path.join(maildir, sub), { recursive: true })));
  const indexes = Array.from({ length: to - from }, (_, k) => from + k);
  await mapLimit(indexes, READ_CONCURRENCY, async (i) => {
    const name = `${1_767_225_600 + i}.M${i % 1_000_000}P4242Q${i}.bench`;
    const file = i % 2 === 0 ? path.join(maildir, "new", name) : path.join(maildir, "cur", `${name}:2,S`);
    await writeFile(file, mails[i % mails.length]!);
  });
}

/** Runs one measurement in a fresh process and returns what it reports. */
async function measure(kind: "read" | "replay" | "import", maildir: string): Promise<Measurement> {
  const profile = process.env.BENCH_CPU_PROF && PROF_KINDS.has(kind) ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  // The import runs with the thread pool the installed command gives it (src/cli/bin.cts).
  const env = kind === "import" ? { ...process.env, UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? THREAD_POOL_SIZE } : process.env;
  const nodeArgs = kind === "import" ? (process.env.BENCH_IMPORT_NODE_ARGS ?? "").split(" ").filter(Boolean) : [];
  const proc = spawn(process.execPath, [...profile, ...nodeArgs, fileURLToPath(import.meta.url), "--child", kind, maildir], { stdio: ["ignore", "pipe", "inherit"], env });
  let out = "";
  proc.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
  const code = await new Promise<number | null>((resolve) => proc.on("close", resolve));
  if (code !== 0) throw new Error(`${kind} measurement exited with ${code}`);
  // The measurement is the last line; what node's flags printed before it (--trace-gc) goes to stderr.
  const last = out.lastIndexOf("\n{") + 1;
  process.stderr.write(out.slice(0, last));
  return JSON.parse(out.slice(last)) as Measurement;
}

async function child(kind: string, maildir: string): Promise<void> {
  const started = performance.now();
  const cpuStarted = process.cpuUsage();
  const threadsStarted = threadTimes();
  let threadsEnd: Map<number, { run: number; wait: number }> | undefined;
  let messages = 0;
  let bytes = 0;
  if (kind === "read") {
    const files = await listMessages(maildir);
    await mapLimit(files, READ_CONCURRENCY, async (f) => {
      bytes += (await readWhole(f.path)).length;
      messages += 1;
    });
  } else if (kind === "import") {
    // Here `maildir` is the bench's directory: the database is in it, the Maildirs go under it.
    const lib = await import("../src/replay/index.js");
    const threads = process.env.BENCH_RENDER_THREADS;
    const fixed = Buffer.alloc(3275, "x");
    const noRender = { render: async (r: { ids: { id: string | undefined } }) => ({ messageId: `<${r.ids.id}@bench>`, bytes: fixed }), close: async () => undefined };
    const target = lib.createMaildirTarget({
      template: path.join(maildir, "imported", "%d", "%n"), domain: DOMAIN, dryRun: false,
      ...(threads ? { renderThreads: Number(threads) } : {}), ...(process.env.BENCH_IMPORT_NO_RENDER === "1" ? { renderPool: noRender } : {}),
    });
    const { summary } = await lib.runReplay({
      source: lib.createEjabberdSqlSource({ dsn: lib.parseDsn(`sqlite:${path.join(maildir, "ejabberd.db")}`, "source"), stores: ["archive"], domains: { componentDomain: DOMAIN, userDomain: "example.org" } }),
      target,
      selection: lib.parseSelection({}), checkpoint: undefined, progress: lib.NO_PROGRESS, pacer: lib.createPacer(undefined), concurrency: 16,
      logger: createLogger({ level: "silent" }), dryRun: false,
    });
    // Before the close: the render worker's thread is gone after it.
    threadsEnd = threadTimes();
    await target.close();
    messages = summary.replayed;
    if (failedTotal(summary.failed) > 0 || messages === 0) throw new Error(`import failed: ${JSON.stringify([...summary.failed])}`);
  } else {
    const lib = (await import(process.env.BENCH_REPLAY_LIB ? pathToFileURL(process.env.BENCH_REPLAY_LIB).href : "../src/replay/index.js")) as typeof import("../src/replay/index.js");
    // Counts lines as they would reach stdout, and drops them: the bench measures replay, not a disk.
    const output = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) messages += 1;
        bytes += chunk.length;
        callback();
      },
    });
    const target = lib.createStreamTarget({ format: "ndjson", output, domain: DOMAIN });
    const { summary } = await lib.runReplay({
      source: lib.createMaildirSource({ source: maildir, includeMail: false, domains: { componentDomain: DOMAIN, userDomain: "example.org" } }),
      target,
      selection: lib.parseSelection({}), checkpoint: undefined, progress: lib.NO_PROGRESS, pacer: lib.createPacer(undefined), concurrency: 16,
      logger: createLogger({ level: "silent" }), dryRun: false,
    });
    await target.close();
    if (summary.replayed !== messages) throw new Error(`replayed ${summary.replayed}, wrote ${messages} lines`);
  }
  const ms = performance.now() - started;
  const cpu = process.cpuUsage(cpuStarted);
  const threadsNow = threadsEnd ?? threadTimes();
  const main = threadsNow.get(process.pid)!;
  const main0 = threadsStarted.get(process.pid)!;
  let otherMs = 0;
  for (const [tid, t] of threadsNow) if (tid !== process.pid) otherMs = Math.max(otherMs, t.run - (threadsStarted.get(tid)?.run ?? 0));
  const threads = { mainMs: main.run - main0.run, mainWaitMs: main.wait - main0.wait, otherMs };
  const measurement: Measurement = { ms, cpuMs: (cpu.user + cpu.system) / 1000, messages, bytes, rssMb: Math.round(process.resourceUsage().maxRSS / 1024), threads };
  process.stdout.write(JSON.stringify(measurement));
}

/** Each thread's ms on a CPU and queued for one (schedstat, ns). */
function threadTimes(): Map<number, { run: number; wait: number }> {
  const times = new Map<number, { run: number; wait: number }>();
  for (const tid of readdirSync("/proc/self/task")) {
    try {
      times.set(Number(tid), schedstatMs(`/proc/self/task/${tid}/schedstat`));
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return times;
}

function failedTotal(failed: ReadonlyMap<string, number>): number {
  return [...failed.values()].reduce((a, b) => a + b, 0);
}
