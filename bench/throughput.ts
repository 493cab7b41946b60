// `npm run bench`: the component against its peers, in one run, on one disk.
//   component  the real CLI (the installed command, dist/src/cli/bin.cjs; BENCH_CLI for another build's), fed copies over a real XEP-0114 stream by a synthetic server that
//              behaves like the Prosody module (window of 64 unconfirmed, resend on wait)
//   lmtp       Dovecot's LMTP delivering the same mails into Maildir over 8 connections
//   disk       create + write + fsync + rename of the same bytes, at the best concurrency
// Under each row: the component's CPU per copy (user and system time of all its threads, from
// /proc: bench/proc-stat.ts), over the N copies and over the steady phase; then the steady
// 1,000/s rows of the floor beside the component's (./steady.ts: our writer alone, with the
// journal, a bare durable write with node:fs, Dovecot's LMTP), latency and CPU per mail each.
// BENCH_STAGES=1 adds where the component's slowest steady copies spent their time (./stages.ts).
// Shared machines are noisy: compare the ratios, not the absolute numbers.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import nodemailer from "nodemailer";
import { createMaildirWriter } from "../src/maildir/index.js";
import { cliPath } from "../harness/component.js";
import { startDovecot } from "../harness/dovecot.js";
import { mailUser } from "../harness/mail-user.js";
import { makeTempDir, removeDir } from "../harness/tmp.js";
import { startFakeServer, type FakeServer } from "../test/support/fake-server.js";
import { clockTicks, cpuUse, sampleCpu, treeCpuMs } from "./proc-stat.js";
import { startPerfStat } from "./perf-stat.js";
import { createCostLine } from "./create-cost.js";
import { fileSystemLine, runOnBenchFs } from "./bench-fs.js";
import { stageReport, type SentTimes } from "./stages.js";
import { copies, DOMAIN, FLOOR_HEADER, FLOOR_KINDS, floorLine, pace, percentile, renderAll, runFloorRow, STEADY_RATE, STEADY_SECONDS, USERS, WINDOW, type FloorRow } from "./steady.js";

const LMTP_CONNECTIONS = 8;
const DISK_CONCURRENCIES = [16, 32, 64];
const SIZES = (process.env.BENCH_SIZES ?? (process.env.BENCH_FULL ? "1000,10000,100000" : "1000,10000")).split(",").map(Number);
/** The folder-size phase: copies to one user, before and after their INBOX holds FOLDER_PREFILL. */
const FOLDER_COPIES = Number(process.env.BENCH_FOLDER_COPIES ?? 3000);
const FOLDER_PREFILL = Number(process.env.BENCH_FOLDER_PREFILL ?? 100_000);
/**
 * The installed command (package.json "bin": it sizes libuv's pool before main.js loads), or
 * BENCH_CLI: another build's, e.g. main's in a second worktree for an A/B in the same slot.
 */
const CLI = process.env.BENCH_CLI ?? cliPath();
const STEADY_SETTLE_MS = Number(process.env.BENCH_STEADY_SETTLE_MS ?? 0);
/** What a deployment runs with: one info line per stored message goes to stdout (discarded here). */
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? "info";

interface FeedResult {
  seconds: number;
  latencies: number[];
  /** With a rate: each copy's due time (its place in the schedule) → its result. */
  dueLatencies: number[];
  waits: number;
}

/** Sends every copy with at most WINDOW unconfirmed, optionally paced to `rate` per second. */
async function feed(server: FakeServer, stanzas: string[], rate?: number, times?: Map<string, SentTimes>): Promise<FeedResult> {
  const sentAt = new Map<string, number>();
  const dueAt = new Map<string, number>();
  const latencies: number[] = [];
  const dueLatencies: number[] = [];
  let waits = 0;
  let next = 0;
  let done = 0;
  const retry: string[] = [];
  const byId = new Map(stanzas.map((s) => [/id='([^']+)'/.exec(s)![1]!, s]));
  // The schedule starts once the copies are indexed, not before: that takes 30 ms for 5,000 copies
  // and 120 ms for 15,000 here, and a clock started before it made the first pump send a whole
  // window (64 copies) at once, then keep it full until the schedule was caught up, which was most
  // of the steady phase's p99 (docs/performance.md, helper tail9).
  const started = performance.now();
  return new Promise((resolve) => {
    const pump = () => {
      while (sentAt.size < WINDOW && (retry.length > 0 || next < stanzas.length)) {
        if (rate && retry.length === 0 && next >= ((performance.now() - started) / 1000) * rate) {
          setTimeout(pump, 2);
          return;
        }
        const index = next;
        const stanza = retry.shift() ?? stanzas[next++]!;
        const id = /id='([^']+)'/.exec(stanza)![1]!;
        if (rate && !dueAt.has(id)) dueAt.set(id, started + (index * 1000) / rate);
        sentAt.set(id, performance.now());
        server.send(stanza);
      }
    };
    server.onElement((el) => {
      const id = el.attrs.id;
      const at = id ? sentAt.get(id) : undefined;
      if (!id || at === undefined) return;
      sentAt.delete(id);
      if (el.attrs.type === "result") {
        const received = performance.now();
        latencies.push(received - at);
        if (rate) dueLatencies.push(received - dueAt.get(id)!);
        times?.set(id, { sent: performance.timeOrigin + at, received: performance.timeOrigin + received });
        done += 1;
        if (done === stanzas.length) {
          server.onElement(undefined);
          resolve({ seconds: (performance.now() - started) / 1000, latencies, dueLatencies, waits });
          return;
        }
      } else {
        waits += 1;
        retry.push(byId.get(id)!);
      }
      pump();
    });
    pump();
  });
}

/** Peak resident set of a process, from the kernel (VmHWM). */
function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
}

/**
 * The cost of a copy must not grow with the mail already in the Maildir: the same copies to one
 * user whose INBOX is empty, then to one whose INBOX already holds FOLDER_PREFILL messages, through
 * one component. Returns both rates.
 */
async function benchFolder(dir: string): Promise<{ empty: number; full: number; prefill: number }> {
  const secret = randomBytes(8).toString("hex");
  const server = await startFakeServer({ domain: DOMAIN, secret });
  const root = path.join(dir, "folder");
  const child = spawnComponent(server.port, root, secret);
  try {
    await server.connected();
    // Warm up first (JIT, the first Maildir), so that the two measured phases differ only in the
    // folder they write to.
    await feed(server, copies(FOLDER_COPIES, "fw", "warmup"));
    const empty = await feed(server, copies(FOLDER_COPIES, "fe", "empty"));
    // Fill the other INBOX the fast way (no fsync): a year of mail for a busy user.
    const cur = path.join(root, "example.org", "full", "Maildir", "cur");
    await mkdir(cur, { recursive: true });
    for (const sub of ["new", "tmp"]) await mkdir(path.join(root, "example.org", "full", "Maildir", sub), { recursive: true });
    const sample = (await renderAll(copies(1, "fp")))[0]!;
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < FOLDER_PREFILL) {
          const i = next++;
          await writeFile(path.join(cur, `1700000000.M${i}P1Q${i}.bench,S=${sample.length}:2,S`), sample);
        }
      }),
    );
    const full = await feed(server, copies(FOLDER_COPIES, "ff", "full"));
    return { empty: FOLDER_COPIES / empty.seconds, full: FOLDER_COPIES / full.seconds, prefill: FOLDER_PREFILL };
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
    await server.close();
    await rm(root, { recursive: true, force: true });
  }
}

function spawnComponent(port: number, root: string, secret: string, prof: string[] = [], stageTrace?: string) {
  return spawn(process.execPath, [...prof, CLI, "run", "--domain", DOMAIN, "--xmpp-port", String(port), "--maildir", path.join(root, "%d", "%n", "Maildir"), "--state-dir", path.join(root, ".state"), "--log-level", LOG_LEVEL], {
    // BENCH_NODE_OPTIONS: V8 or Node flags for the component only (heap sizes, --cpu-prof...).
    env: {
      PATH: process.env.PATH ?? "",
      XMPP_MAILDIR_SECRET: secret,
      ...(process.env.UV_THREADPOOL_SIZE ? { UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE } : {}),
      ...(process.env.UV_USE_IO_URING ? { UV_USE_IO_URING: process.env.UV_USE_IO_URING } : {}),
      ...(process.env.BENCH_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS } : {}),
      ...(stageTrace ? { XMD_STAGE_TRACE: stageTrace } : {}),
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
}

/** The component's CPU per copy over one phase, split into user and system time (µs). */
interface CopyCpu {
  readonly userUs: number;
  readonly sysUs: number;
  /** The main thread's share of the wall time on a CPU, and runnable but queued for one. */
  readonly mainRun: number;
  readonly mainWait: number;
}

async function benchComponent(
  dir: string,
  n: number,
): Promise<{ rate: number; p50: number; p99: number; rssMb: number; waits: number; steadyRate: number; steadyP50: number; steadyP99: number; steadyMax: number; steadyDueP99: number; cpu: CopyCpu; steadyCpu: CopyCpu; stages: string[] }> {
  const secret = randomBytes(8).toString("hex");
  const server = await startFakeServer({ domain: DOMAIN, secret });
  const root = path.join(dir, `component-${n}`);
  await mkdir(root, { recursive: true });
  // BENCH_CPU_PROF=DIR writes a V8 CPU profile of the component (open it in Chrome DevTools).
  const prof = process.env.BENCH_CPU_PROF ? ["--cpu-prof", "--cpu-prof-dir", process.env.BENCH_CPU_PROF] : [];
  // BENCH_STAGES=1: the component records each delivery's stages (src/maildir/stage-trace.ts).
  const trace = process.env.BENCH_STAGES === "1" ? path.join(root, "stages.ndjson") : undefined;
  const child = spawnComponent(server.port, root, secret, prof, trace);
  try {
    // A component that cannot start (a bad flag or variable) must fail the bench, not hang it.
    await Promise.race([server.connected(), new Promise((_, reject) => child.once("exit", (code) => reject(new Error(`the component exited (${code}) before connecting`))))]);
    const ticks = clockTicks();
    const perCopy = (from: ReturnType<typeof sampleCpu>, count: number): CopyCpu => {
      const use = cpuUse(from, sampleCpu(child.pid!, ticks));
      return { userUs: (use.userMs * 1000) / count, sysUs: (use.sysMs * 1000) / count, mainRun: use.run, mainWait: use.wait };
    };
    console.log(createCostLine());
    const before = sampleCpu(child.pid!, ticks);
    const perfStat = startPerfStat(child.pid!, `component N=${n}`);
    const main = await feed(server, copies(n, `c${n}`));
    const cpu = perCopy(before, n);
    const perfLine = await perfStat.stop(n);
    if (perfLine) console.log(perfLine);
    const steadyCopies = copies(STEADY_RATE * STEADY_SECONDS, `s${n}`);
    // BENCH_STEADY_SETTLE_MS: a pause between the unpaced N copies and the steady phase (default
    // none), to tell a transient after the burst from the steady state.
    if (STEADY_SETTLE_MS > 0) await new Promise((r) => setTimeout(r, STEADY_SETTLE_MS));
    const beforeSteady = sampleCpu(child.pid!, ticks);
    const times = new Map<string, SentTimes>();
    const steady = await feed(server, steadyCopies, STEADY_RATE, times);
    const steadyCpu = perCopy(beforeSteady, STEADY_RATE * STEADY_SECONDS);
    const rssMb = peakRssMb(child.pid!);
    let stages: string[] = [];
    if (trace) {
      // The trace is complete once the component has exited (it appends the rest on exit).
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
      stages = stageReport(trace, times);
    }
    return {
      stages,
      cpu,
      steadyCpu,
      rate: n / main.seconds,
      p50: percentile(main.latencies, 50),
      p99: percentile(main.latencies, 99),
      rssMb,
      waits: main.waits,
      steadyRate: (STEADY_RATE * STEADY_SECONDS) / steady.seconds,
      steadyMax: Math.max(...steady.latencies),
      steadyDueP99: percentile(steady.dueLatencies, 99),
      steadyP50: percentile(steady.latencies, 50),
      steadyP99: percentile(steady.latencies, 99),
    };
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
    }
    await server.close();
  }
}

/** Dovecot's LMTP paced like the component's steady phase, one connection per mail in flight. */
async function steadyLmtp(port: number, masterPid: number, mails: Buffer[]): Promise<FloorRow> {
  const transport = nodemailer.createTransport({ host: "127.0.0.1", port, lmtp: true, secure: false, ignoreTLS: true, pool: true, maxConnections: WINDOW, maxMessages: Infinity });
  const send = (i: number) => transport.sendMail({ envelope: { from: "peer@example.net", to: `u${i % USERS}@example.org` }, raw: mails[i % mails.length]! }).then(() => undefined);
  try {
    // Open the connections (and Dovecot's processes for them) first.
    await Promise.all(Array.from({ length: WINDOW * 2 }, (_, i) => send(i)));
    const ticks = clockTicks();
    const count = STEADY_RATE * STEADY_SECONDS;
    const before = treeCpuMs(masterPid, ticks);
    const run = await pace(count, STEADY_RATE, WINDOW, send);
    const after = treeCpuMs(masterPid, ticks);
    const ls = run.latencies;
    return { kind: "lmtp", rate: count / run.seconds, p50: percentile(ls, 50), p99: percentile(ls, 99), max: Math.max(...ls), dueP99: percentile(run.dueLatencies, 99), userUs: ((after.userMs - before.userMs) * 1000) / count, sysUs: ((after.sysMs - before.sysMs) * 1000) / count };
  } finally {
    transport.close();
  }
}

async function benchLmtp(dir: string, mails: Buffer[], steady: boolean): Promise<{ rate: number; steady: FloorRow | undefined }> {
  const user = mailUser();
  const dovecot = await startDovecot({ dir: path.join(dir, "dovecot"), maildirTemplate: path.join(dir, "lmtp-mail", "%d", "%n", "Maildir"), users: [], uid: user.uid, gid: user.gid, lmtp: true });
  const transport = nodemailer.createTransport({ host: "127.0.0.1", port: dovecot.lmtpPort!, lmtp: true, secure: false, ignoreTLS: true, pool: true, maxConnections: LMTP_CONNECTIONS, maxMessages: Infinity });
  try {
    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: LMTP_CONNECTIONS }, async () => {
        while (next < mails.length) {
          const i = next++;
          await transport.sendMail({ envelope: { from: "peer@example.net", to: `u${i % USERS}@example.org` }, raw: mails[i]! });
        }
      }),
    );
    const rate = mails.length / ((performance.now() - started) / 1000);
    transport.close();
    const masterPid = Number(readFileSync(path.join(dir, "dovecot", "run", "master.pid"), "utf8").trim());
    return { rate, steady: steady ? await steadyLmtp(dovecot.lmtpPort!, masterPid, mails) : undefined };
  } finally {
    transport.close();
    await dovecot.stop();
  }
}

async function benchDisk(dir: string, mails: Buffer[]): Promise<{ rate: number; concurrency: number }> {
  let best = { rate: 0, concurrency: 0 };
  for (const concurrency of DISK_CONCURRENCIES) {
    const writer = createMaildirWriter();
    const root = path.join(dir, `disk-${concurrency}`);
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < mails.length) {
          const i = next++;
          await writer.deliver(path.join(root, `u${i % USERS}`), mails[i]!);
        }
      }),
    );
    const rate = mails.length / ((performance.now() - started) / 1000);
    if (rate > best.rate) best = { rate, concurrency };
    await rm(root, { recursive: true, force: true });
  }
  return best;
}

async function main(): Promise<void> {
  const dir = await makeTempDir("xmd-bench-");
  const fmt = (x: number, d = 0) => x.toFixed(d).padStart(8);
  console.log(`# machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}, tmp ${os.tmpdir()}`);
  console.log(fileSystemLine());
  console.log("       N  component/s    lmtp/s    disk/s (conc)  vs_lmtp  vs_disk  p50_ms  p99_ms  steady1k_p99_ms  rss_MB  waits");
  let last = "";
  try {
    for (const n of SIZES) {
      const mails = await renderAll(copies(Math.min(n, 10_000), `r${n}`));
      const component = await benchComponent(dir, n);
      // BENCH_COMPONENT_ONLY=1: no LMTP and disk rows (a short A/B run of the component's CPU).
      const only = process.env.BENCH_COMPONENT_ONLY === "1";
      // BENCH_FLOOR: which steady rows beside the component's (default all; none with BENCH_COMPONENT_ONLY).
      const floorKinds = (process.env.BENCH_FLOOR ?? (only ? "" : [...FLOOR_KINDS, "lmtp"].join(","))).split(",").filter(Boolean);
      const lmtpRows = only ? undefined : await benchLmtp(dir, mails, floorKinds.includes("lmtp"));
      const lmtp = lmtpRows?.rate ?? NaN;
      const disk = only ? { rate: NaN, concurrency: 0 } : await benchDisk(dir, mails);
      const floors: FloorRow[] = [];
      for (const kind of FLOOR_KINDS) if (floorKinds.includes(kind)) floors.push(await runFloorRow(kind, path.join(dir, `floor-${kind}`)));
      if (lmtpRows?.steady) floors.push(lmtpRows.steady);
      const vsLmtp = component.rate / lmtp;
      const vsDisk = component.rate / disk.rate;
      console.log(
        `${String(n).padStart(8)} ${fmt(component.rate)}    ${fmt(lmtp)} ${fmt(disk.rate)} (${String(disk.concurrency).padStart(2)})  ${fmt(vsLmtp, 2)} ${fmt(vsDisk, 2)} ${fmt(component.p50, 1)} ${fmt(component.p99, 1)} ${fmt(component.steadyP99, 1).padStart(16)} ${fmt(component.rssMb)} ${String(component.waits).padStart(6)}`,
      );
      const us = (c: CopyCpu) => `user ${c.userUs.toFixed(0)} sys ${c.sysUs.toFixed(0)} total ${(c.userUs + c.sysUs).toFixed(0)} (main thread run ${c.mainRun.toFixed(2)} queued ${c.mainWait.toFixed(2)})`;
      console.log(`# component CPU µs/copy (all threads): N ${us(component.cpu)}; steady ${us(component.steadyCpu)}`);
      // The steady rows: the component's and its floor's, each paced at STEADY_RATE with WINDOW in flight.
      const steadyComponent: FloorRow = { kind: "component", rate: component.steadyRate, p50: component.steadyP50, p99: component.steadyP99, max: component.steadyMax, dueP99: component.steadyDueP99, userUs: component.steadyCpu.userUs, sysUs: component.steadyCpu.sysUs };
      console.log(FLOOR_HEADER);
      for (const row of [steadyComponent, ...floors]) console.log(`#   ${floorLine(row)}`);
      for (const line of component.stages) console.log(line);
      const p99Of = (kind: string) => floors.find((f) => f.kind === kind)?.p99 ?? NaN;
      last =
        `ratio_vs_lmtp=${vsLmtp.toFixed(2)} ratio_vs_disk=${vsDisk.toFixed(2)} p99_ms=${component.steadyP99.toFixed(1)}` +
        ` writer_p99_ms=${p99Of("writer").toFixed(1)} writer_journal_p99_ms=${p99Of("writer+journal").toFixed(1)} bare_p99_ms=${p99Of("bare").toFixed(1)} lmtp_p99_ms=${p99Of("lmtp").toFixed(1)}` +
        ` p99_vs_bare=${(component.steadyP99 / p99Of("bare")).toFixed(2)} due_p99_ms=${component.steadyDueP99.toFixed(1)}`;
      await rm(path.join(dir, `component-${n}`), { recursive: true, force: true });
      await rm(path.join(dir, "lmtp-mail"), { recursive: true, force: true });
      await rm(path.join(dir, "dovecot"), { recursive: true, force: true });
      for (const kind of FLOOR_KINDS) await rm(path.join(dir, `floor-${kind}`), { recursive: true, force: true });
    }
    if (FOLDER_PREFILL > 0) {
      const folder = await benchFolder(dir);
      console.log(`\n# one user's INBOX, ${FOLDER_COPIES} copies: empty vs already holding ${folder.prefill} messages`);
      console.log(`folder_empty/s=${folder.empty.toFixed(0)} folder_full/s=${folder.full.toFixed(0)} ratio_full_vs_empty=${(folder.full / folder.empty).toFixed(2)}`);
    }
  } finally {
    await removeDir(dir);
  }
  console.log(last);
}

// BENCH_FS=ext4: the same run on a fresh journaled ext4 (./bench-fs.ts).
if (!(await runOnBenchFs())) await main();
