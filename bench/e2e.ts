// `npm run bench:e2e`: end to end through a real Prosody (issue #8, item 3).
//   K real c2s clients (@xmpp/client, one login each, see e2e-load.ts) send chats to 50 offline users
//   → Prosody (info log level): mod_offline stores each one; our module writes a copy to its
//     outbox and sends it, at most 256 unconfirmed (xmpp_maildir_window), in batches of up to 16
//   → the real component (`xmpp-maildir run`, info log level) stores it in the recipient's
//     Maildir, fsync'd, and confirms.
// The clock runs from the first send to the last "stored" line of the component; then every
// message is checked to be in its Maildir exactly once (e2e-verify.ts). Each process's CPU time
// comes from /proc (proc-stat.ts): Prosody, the component, and this process (the K clients, plus
// reading the component's log). A fresh stack per K, so no run inherits another's storage or heap.
// Then, at the largest K, two runs that split Prosody's cost (BENCH_E2E_SPLIT=0 skips them):
//   file-outbox    the same, with the module's outbox on Prosody's storage API (internal driver:
//                  a file per copy), as before the log: the before/after of issue #15 in one run
//   v0-wire        the same, with batches on the wire (copy protocol v1) turned off: one IQ per copy
//   mem-outbox     the same, with the module's outbox in Prosody's memory storage: not durable,
//                  never for production, but it shows what the outbox costs at all
//   prosody-alone  the same load through a Prosody without our module: c2s and mod_offline alone
// Then the same load at the largest K through ejabberd, with and without our module
// (e2e-ejabberd.ts; BENCH_E2E_EJABBERD=0 skips them). The last line has both servers' ratios.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { ComponentProcess } from "../harness/component.js";
import { prosodyPaths, type ProsodyLogLevel } from "../harness/prosody-config.js";
import { startProsody, type ProsodyServer } from "../harness/prosody.js";
import { COMPONENT, DOMAIN, startStack, type Stack } from "../harness/stack.js";
import { makeTempDir, removeDir } from "../harness/tmp.js";
import type { TestClient } from "../harness/xmpp-client.js";
import { connectSenders, drive, plan } from "./e2e-load.js";
import { exactlyOnce, offlineCount, outboxSize, storedSubjects } from "./e2e-verify.js";
import { cpuPerMessage, HEADER, rate, ratioLine, row, summary, whereTheTimeGoes, type Phase } from "./e2e-report.js";
import { clockTicks } from "./proc-stat.js";
import { sampleThreads, threadsLine } from "./e2e-threads.js";
import { measure, POLL_MS, RECIPIENTS, SETTLE_TIMEOUT_MS, sleep, users, waitForStored } from "./e2e-run.js";
import { runEjabberdAlone, runEjabberdE2e } from "./e2e-ejabberd.js";
import { PROBING, probeReport, setUpProbes, startProbe, type ProbeResult } from "./e2e-probe.js";
import { startPerfStat } from "./perf-stat.js";
import { luaProfileModule, luaProfileReport, setUpLuaProfile, startLuaProfile, type LuaProfile } from "./e2e-lua-profile.js";
import { createCostLine } from "./create-cost.js";
import { fileSystemLine, runOnBenchFs } from "./bench-fs.js";

// BENCH_E2E_ROUNDS=N: N pairs of e2e and prosody-alone rows, and the median ratios (see ROUNDS).
// BENCH_E2E_PIN=1: Prosody on a CPU of its own, the rest on the other (see pin()).
// BENCH_E2E_LUA_PROFILE=1 (e2e-lua-profile.ts): the Lua functions Prosody runs per message, with the
// module and alone, at the end.
// BENCH_E2E_PERF=1 (e2e-probe.ts): perf record on Prosody in every row; its CPU per message by library
// and function, with the module against alone, at the end.
// BENCH_E2E_CALLGRIND=1 / BENCH_E2E_STRACE=1 (e2e-probe.ts): only the e2e and prosody-alone rows at
// the largest K, 300 messages unless told otherwise, counted in instructions or system calls.
const KS = (process.env.BENCH_E2E_K ?? "1,4,16").split(",").map(Number).slice(PROBING ? -1 : 0);
const MESSAGES = Number(process.env.BENCH_E2E_MESSAGES ?? (PROBING ? 300 : 2000));
/** What a deployment runs with: one line per stored message from the component. */
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? "info";
/** A deployment logs at info; "debug" (the tests' default) writes ~5 lines per message. */
const PROSODY_LOG_LEVEL = (process.env.BENCH_PROSODY_LOG_LEVEL ?? "info") as ProsodyLogLevel;
/** pino's numeric levels. */
const PINO_LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };
/** BENCH_E2E_SPLIT=0 skips the file-outbox, v0-wire, mem-outbox and prosody-alone runs; =alone keeps only prosody-alone (the baseline). */
const SPLIT = !PROBING && process.env.BENCH_E2E_SPLIT !== "0" && process.env.BENCH_E2E_SPLIT !== "alone";
const ALONE = PROBING || process.env.BENCH_E2E_SPLIT !== "0";
/** BENCH_E2E_PROSODY=0 skips every Prosody run (see ejabberdOnly). */
const PROSODY = process.env.BENCH_E2E_PROSODY !== "0";
/** BENCH_E2E_EJABBERD=0 skips the ejabberd rows (ejabberd-e2e, ejabberd-alone) at the largest K. */
const EJABBERD = !PROBING && process.env.BENCH_E2E_EJABBERD !== "0";
/** What the probe counted in each Prosody row (BENCH_E2E_CALLGRIND / BENCH_E2E_STRACE). */
const probed = new Map<string, ProbeResult>();
/** BENCH_E2E_LUA_PROFILE: each Prosody row's Lua profile. */
const luaProfiles = new Map<string, LuaProfile>();
/**
 * BENCH_E2E_PIN=1: Prosody on CPU 0, everything else of the row (the component, this process and its
 * clients) on CPU 1, with taskset, in every row: Prosody then never shares its core with the
 * component, which shows what of Prosody's extra cost with the module is the two sharing caches and
 * cores (reschedules, the component's disk interrupts, cold caches) rather than the module's work.
 * Interrupts still go where the kernel sends them.
 */
const PIN = process.env.BENCH_E2E_PIN === "1";
function pin(pid: number, cpu: number): void {
  if (!PIN) return;
  execFileSync("taskset", ["-a", "-p", "-c", String(cpu), String(pid)], { stdio: "ignore" });
}
/**
 * BENCH_E2E_ROUNDS=N (default 1): after the table, N − 1 more pairs of the e2e and prosody-alone
 * rows at the largest K, alternating which goes first, then each pair's ratios and their medians.
 * This machine's speed drifts by ±40 % within minutes, so one pair can land on either side of a
 * target; the median of pairs run back to back is the figure to compare.
 */
const ROUNDS = Number(process.env.BENCH_E2E_ROUNDS ?? 1);
/**
 * BENCH_PROSODY_GC: Prosody's `gc` option (https://prosody.im/doc/advanced_gc) for every Prosody
 * row, as Lua, e.g. '{ mode = "generational" }' or '{ threshold = 200 }'. Default: Prosody's own
 * (incremental, threshold 105, speed 500 in 0.12 and 13).
 */
const PROSODY_GC = process.env.BENCH_PROSODY_GC;
const GLOBAL_CONFIG = PROSODY_GC ? [`gc = ${PROSODY_GC}`] : undefined;
/** BENCH_E2E_WINDOW=N sets the Prosody module's xmpp_maildir_window in every run with the module (default: the module's). */
const WINDOW = process.env.BENCH_E2E_WINDOW;
/** Lines of Prosody host config for every run with the module. */
const MODULE_CONFIG = WINDOW === undefined ? [] : [`xmpp_maildir_window = ${Number(WINDOW)}`];
/**
 * The component's time per copy ("stored" lines' `ms`: from taking a write slot to synced, renamed
 * and journalled), and what that allows through the module's window by Little's law (copies in
 * flight ÷ time each is in flight): the rate can be no higher while the window is full.
 */
function storeLatency(label: string, logs: ReadonlyArray<{ msg?: unknown; ms?: unknown }>): string {
  const ms = logs.filter((l) => l.msg === "stored" && typeof l.ms === "number").map((l) => l.ms as number).sort((a, b) => a - b);
  if (ms.length === 0) return `# ${label}: no store times`;
  const at = (q: number) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))]!;
  const mean = ms.reduce((a, b) => a + b, 0) / ms.length;
  const window = WINDOW === undefined ? 256 : Number(WINDOW); // the Prosody module's default
  return `# ${label}: component store ms p50 ${at(0.5).toFixed(1)} p90 ${at(0.9).toFixed(1)} p99 ${at(0.99).toFixed(1)} mean ${mean.toFixed(1)}; window ${window} ÷ mean ≈ ${Math.round((window * 1000) / mean)}/s`;
}

/**
 * How the copies reached the component: IQs of one copy (v0) against batches (v1), from the
 * component's "batch of copies" lines, which it writes at debug level only (BENCH_LOG_LEVEL=debug).
 */
function batchSizes(logs: ReadonlyArray<{ msg?: unknown; copies?: unknown }>, copies: number): string {
  const batches = logs.filter((l) => l.msg === "batch of copies" && typeof l.copies === "number").map((l) => l.copies as number);
  if (batches.length === 0) return "# batches: none logged (they are logged at BENCH_LOG_LEVEL=debug)";
  const inBatches = batches.reduce((a, b) => a + b, 0);
  const sizes = new Map<number, number>();
  for (const b of batches) sizes.set(b, (sizes.get(b) ?? 0) + 1);
  const histogram = [...sizes].sort((a, b) => a[0] - b[0]).map(([size, n]) => `${size}:${n}`).join(" ");
  const iqs = batches.length + (copies - inBatches);
  return `# batches: ${copies - inBatches} single copies + ${batches.length} batches (sizes ${histogram}); ${(copies / iqs).toFixed(2)} copies per IQ`;
}

async function waitForEmptyOutbox(dataDir: string): Promise<void> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  for (let left = await outboxSize(dataDir); left > 0; left = await outboxSize(dataDir)) {
    if (Date.now() > deadline) throw new Error(`${left} copies still unconfirmed in Prosody's outbox`);
    await sleep(POLL_MS * 10);
  }
}

function prosodyPid(prosody: ProsodyServer): number {
  const pid = Number(readFileSync(prosodyPaths(prosody.dir).pidfile, "utf8").trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new Error("no pid in Prosody's pidfile");
  return pid;
}

/**
 * The module's outbox in each run: "log" (its default, one append-only file per host), "file"
 * (Prosody's storage API on the internal driver, one file per copy: the module's default until
 * 2026-12-01), "memory" (Prosody's memory storage driver, mod_storage_memory: not durable).
 */
type OutboxKind = "log" | "file" | "memory" | "v0";
const OUTBOX_CONFIG: Record<OutboxKind, string[]> = {
  log: [],
  file: [`xmpp_maildir_outbox_store = "storage"`],
  memory: [`storage = { xmpp_maildir_outbox = "memory" }`],
  // The log, with copy protocol v1 (batches) turned off: one IQ per copy, as before issue #15's batching.
  v0: [`xmpp_maildir_batching = false`],
};
const OUTBOX_LABEL: Record<OutboxKind, string> = { log: "e2e", file: "file-outbox", memory: "mem-outbox", v0: "v0-wire" };

/**
 * The component's environment: BENCH_UV_THREADPOOL_SIZE; BENCH_UV_USE_IO_URING (libuv's UV_USE_IO_URING:
 * 1 sends the fs calls through io_uring instead of the thread pool); BENCH_NODE_OPTIONS (V8 or Node flags for
 * the component only, as in bench/throughput.ts); BENCH_CPU_PROF=DIR writes a V8 CPU profile of
 * the component of each row with the module into DIR (open it in Chrome DevTools).
 */
function componentEnv(pool: string | undefined): Record<string, string> {
  const profDir = process.env.BENCH_CPU_PROF;
  // Node refuses --cpu-prof in NODE_OPTIONS: a preload starts the profiler instead (./e2e-cpu-prof.ts).
  const prof = profDir ? `--import=${new URL("./e2e-cpu-prof.js", import.meta.url).href}` : "";
  const nodeOptions = [process.env.BENCH_NODE_OPTIONS ?? "", prof].filter((o) => o !== "").join(" ");
  return {
    ...(pool ? { UV_THREADPOOL_SIZE: pool } : {}),
    ...(process.env.BENCH_UV_USE_IO_URING !== undefined ? { UV_USE_IO_URING: process.env.BENCH_UV_USE_IO_URING } : {}),
    ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}),
    ...(profDir ? { XMD_BENCH_CPU_PROF_DIR: path.resolve(profDir) } : {}),
  };
}

async function runE2e(k: number, ticks: number, options: { outbox?: OutboxKind } = {}): Promise<Phase> {
  const outbox = options.outbox ?? "log";
  const label = OUTBOX_LABEL[outbox];
  const dir = await makeTempDir(`xmd-bench-${label}-k${k}-`);
  let stack: Stack | undefined;
  let component: ComponentProcess | undefined;
  let clients: TestClient[] = [];
  try {
    const luaProfile = luaProfileModule();
    const hostConfig = [...MODULE_CONFIG, ...OUTBOX_CONFIG[outbox], ...(luaProfile?.hostConfig ?? [])];
    stack = await startStack({
      dir,
      users: [],
      prosodyLogLevel: PROSODY_LOG_LEVEL,
      ...(hostConfig.length > 0 ? { prosodyHostConfig: hostConfig } : {}),
      ...(luaProfile ? { prosodyExtraModules: luaProfile } : {}),
      ...(GLOBAL_CONFIG ? { prosodyGlobalConfig: GLOBAL_CONFIG } : {}),
    });
    const { prosody } = stack;
    const { senders, recipients } = users(k);
    // BENCH_UV_THREADPOOL_SIZE: libuv's thread pool in the component (every fsync runs in it; default
    // src/cli/thread-pool.cts's THREAD_POOL_SIZE, set by bin.cts).
    const pool = process.env.BENCH_UV_THREADPOOL_SIZE;
    component = stack.component({ args: ["--log-level", LOG_LEVEL], env: componentEnv(pool) });
    await component.waitForLog((l) => l.msg === "connected to the XMPP server");
    clients = await connectSenders(prosody, stack.password, senders, recipients);
    const { perClient, expected } = plan(`${label}-k${k}`, MESSAGES, k, recipients);
    const running = component;
    const dataDir = prosodyPaths(prosody.dir).data;
    const serverPid = prosodyPid(prosody);
    pin(serverPid, 0);
    pin(running.child.pid!, 1);
    pin(process.pid, 1);
    const probe = await startProbe(serverPid, label, MESSAGES);
    const luaProfiler = await startLuaProfile(serverPid, label, MESSAGES);
    let sentAt = 0;
    const startedAt = Date.now();
    // The component creates one file per copy; what that costs now (./create-cost.ts).
    const createCost = createCostLine();
    const threadsBefore = sampleThreads(running.child.pid!);
    const perfStat = startPerfStat(running.child.pid!, `${label} component`);
    const { seconds, use } = await measure({ server: serverPid, component: running.child.pid!, clients: process.pid }, ticks, async () => {
      const sending = Promise.all(clients.map((c, i) => drive(c, perClient[i]!))).then(() => {
        sentAt = Date.now();
      });
      sending.catch(() => undefined);
      const lastStoredAt = await waitForStored(running, MESSAGES);
      await sending;
      return lastStoredAt;
    });
    const threads = threadsLine(running.child.pid!, threadsBefore, sampleThreads(running.child.pid!), ticks, MESSAGES);
    const perfLine = await perfStat.stop(MESSAGES);

    // Correctness: nothing left to re-send, every message in its Maildir once, Prosody's own
    // offline storage as without us, no error in either log.
    await waitForEmptyOutbox(dataDir);
    // Counted until the last confirmation is in the outbox: the results are the module's work too.
    const counted = await probe.stop();
    if (counted) probed.set(label, counted);
    const profiled = await luaProfiler.stop();
    if (profiled) luaProfiles.set(label, profiled);
    const seen = await storedSubjects((user) => path.join(stack!.mailRoot, DOMAIN, user, "Maildir"), recipients);
    const problems = exactlyOnce(expected, seen);
    const storedLines = component.logs.filter((l) => l.msg === "stored").length;
    if (storedLines !== MESSAGES) problems.push(`${storedLines} "stored" lines for ${MESSAGES} messages`);
    const offline = await offlineCount(dataDir);
    if (offline !== MESSAGES) problems.push(`mod_offline holds ${offline} of ${MESSAGES}`);
    problems.push(...(await stack.serverErrors()));
    // The harness starts the component with --log-level debug; ours comes later and must win.
    const belowLevel = component.logs.filter((l) => l.level > 0 && l.level < PINO_LEVELS[LOG_LEVEL]!).length;
    if (belowLevel > 0) problems.push(`the component wrote ${belowLevel} lines below ${LOG_LEVEL}: it is not running at the level measured`);
    const clientErrors = clients.flatMap((c) => c.errors);
    if (clientErrors.length > 0) problems.push(`client errors: ${clientErrors.join("; ")}`);
    if (problems.length > 0) throw new Error(`${label}, K=${k}: not every message stored exactly once:\n  ${problems.join("\n  ")}`);

    const log = await readFile(prosody.logPath, "utf8");
    // When Prosody had handled every message (the clients' last ping answered) against the end:
    // the rest is the module's queue draining through its window.
    console.log(`${storeLatency(label, component.logs)}; Prosody done with the clients at ${((sentAt - startedAt) / 1000).toFixed(2)} s of ${seconds.toFixed(2)} s`);
    console.log(threads);
    console.log(createCost);
    if (perfLine) console.log(perfLine);
    console.log(batchSizes(component.logs, MESSAGES));
    return {
      label,
      k,
      messages: MESSAGES,
      seconds,
      use,
      duplicates: component.logs.filter((l) => l.msg === "duplicate copy, already stored").length,
      pauses: log.match(/Pausing copies/g)?.length ?? 0,
      timeouts: log.match(/not confirmed within/g)?.length ?? 0,
    };
  } finally {
    await Promise.all(clients.map((c) => c.stop()));
    const code = await component?.stop();
    await stack?.stop();
    await removeDir(dir);
    if (code !== undefined && code !== 0) console.error(`# K=${k}: the component exited with ${code}`);
  }
}

/** BENCH_E2E_ROUNDS: more e2e/prosody-alone pairs, then every pair's ratios and the medians. */
async function moreRounds(first: Phase, firstAlone: Phase, ticks: number): Promise<void> {
  const pairs = [{ e2e: first, alone: firstAlone }];
  for (let r = 2; r <= ROUNDS; r++) {
    let e2e: Phase;
    let alone: Phase;
    if (r % 2 === 0) {
      alone = await runProsodyAlone(first.k, ticks);
      console.log(row(alone));
      e2e = await runE2e(first.k, ticks);
      console.log(row(e2e));
    } else {
      e2e = await runE2e(first.k, ticks);
      console.log(row(e2e));
      alone = await runProsodyAlone(first.k, ticks);
      console.log(row(alone));
    }
    pairs.push({ e2e, alone });
  }
  const cpu = (p: Phase) => cpuPerMessage(p, "server");
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  const rates = pairs.map((p) => rate(p.e2e) / rate(p.alone));
  const cpus = pairs.map((p) => cpu(p.e2e) / cpu(p.alone));
  pairs.forEach((p, i) => {
    console.log(
      `# round ${i + 1}: e2e ${rate(p.e2e).toFixed(0)}/s, Prosody ${cpu(p.e2e).toFixed(3)} ms/msg; alone ${rate(p.alone).toFixed(0)}/s, ${cpu(p.alone).toFixed(3)} ms/msg; rate ${rates[i]!.toFixed(2)}×, Prosody CPU ${cpus[i]!.toFixed(2)}×`,
    );
  });
  console.log(`prosody_ratio_median=${median(rates).toFixed(2)} prosody_cpu_ratio_median=${median(cpus).toFixed(2)} rounds=${pairs.length} prosody_ratios=${rates.map((x) => x.toFixed(2)).join(",")} prosody_cpu_ratios=${cpus.map((x) => x.toFixed(2)).join(",")}`);
}

/** The same load through a Prosody without our module: done when the last ping is answered. */
async function runProsodyAlone(k: number, ticks: number): Promise<Phase> {
  const dir = await makeTempDir(`xmd-bench-alone-k${k}-`);
  let prosody: ProsodyServer | undefined;
  let clients: TestClient[] = [];
  try {
    const luaProfile = luaProfileModule();
    prosody = await startProsody({
      dir,
      domain: DOMAIN,
      componentDomain: COMPONENT,
      componentSecret: "unused",
      users: [],
      logLevel: PROSODY_LOG_LEVEL,
      ...(luaProfile ? { pluginPath: luaProfile.dir, modules: luaProfile.modules, extraHostConfig: luaProfile.hostConfig.join("\n") } : {}),
      ...(GLOBAL_CONFIG ? { extraGlobalConfig: GLOBAL_CONFIG } : {}),
    });
    const { senders, recipients } = users(k);
    const password = "pw-bench";
    clients = await connectSenders(prosody, password, senders, recipients);
    const { perClient } = plan(`alone-k${k}`, MESSAGES, k, recipients);
    const serverPid = prosodyPid(prosody);
    pin(serverPid, 0);
    pin(process.pid, 1);
    const probe = await startProbe(serverPid, "prosody-alone", MESSAGES);
    const luaProfiler = await startLuaProfile(serverPid, "prosody-alone", MESSAGES);
    const { seconds, use } = await measure({ server: serverPid, clients: process.pid }, ticks, async () => {
      await Promise.all(clients.map((c, i) => drive(c, perClient[i]!)));
      return Date.now();
    });
    const counted = await probe.stop();
    if (counted) probed.set("prosody-alone", counted);
    const profiled = await luaProfiler.stop();
    if (profiled) luaProfiles.set("prosody-alone", profiled);
    const offline = await offlineCount(prosodyPaths(prosody.dir).data);
    if (offline !== MESSAGES) throw new Error(`prosody alone, K=${k}: mod_offline holds ${offline} of ${MESSAGES}`);
    return { label: "prosody-alone", k, messages: MESSAGES, seconds, use, duplicates: 0, pauses: 0, timeouts: 0 };
  } finally {
    await Promise.all(clients.map((c) => c.stop()));
    await prosody?.stop();
    await removeDir(dir);
  }
}

/** BENCH_E2E_PROSODY=0: the two ejabberd rows alone, at the largest K (to compare ejabberd outboxes). */
async function ejabberdOnly(k: number, ticks: number): Promise<void> {
  const e2e = await runEjabberdE2e(k, ticks, MESSAGES, LOG_LEVEL);
  console.log(row(e2e));
  const alone = await runEjabberdAlone(k, ticks, MESSAGES);
  console.log(row(alone));
  for (const line of whereTheTimeGoes(e2e, undefined, undefined)) console.log(line);
  console.log(`# ejabberd with the module (Mnesia outbox): ${ratioLine(e2e, alone)}`);
  console.log(`# load after: ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}`);
  console.log(`${summary(e2e, undefined, { e2e, alone }).replace(/^.* ejabberd_ratio=/, "ejabberd_ratio=")}`);
}

async function main(): Promise<void> {
  if (!KS.every((k) => Number.isInteger(k) && k > 0) || !Number.isInteger(MESSAGES) || MESSAGES < 1 || !Number.isInteger(RECIPIENTS) || RECIPIENTS < 1) {
    throw new Error("BENCH_E2E_K (e.g. 1,4,16), BENCH_E2E_MESSAGES and BENCH_E2E_RECIPIENTS take positive integers");
  }
  if (PINO_LEVELS[LOG_LEVEL] === undefined) throw new Error(`BENCH_LOG_LEVEL: one of ${Object.keys(PINO_LEVELS).join(", ")}`);
  const ticks = clockTicks();
  if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error("BENCH_E2E_ROUNDS takes a positive integer (pairs of e2e and prosody-alone rows)");
  if (PIN && os.cpus().length < 2) throw new Error("BENCH_E2E_PIN=1 needs two CPUs or more");
  if (PROSODY_GC) console.log(`# Prosody's garbage collector: gc = ${PROSODY_GC} (BENCH_PROSODY_GC)`);
  if (PIN) console.log("# pinned: Prosody on CPU 0; the component, the clients and this process on CPU 1 (BENCH_E2E_PIN=1)");
  await setUpProbes();
  await setUpLuaProfile();
  console.log(`# machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}, node ${process.version}, CLK_TCK ${ticks}, load ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}`);
  console.log(fileSystemLine());
  console.log(`# ${MESSAGES} chats per K to ${RECIPIENTS} offline users, 0.2–4 kB bodies; log level: component ${LOG_LEVEL}, Prosody ${PROSODY_LOG_LEVEL}`);
  for (const line of HEADER) console.log(line);
  const phases: Phase[] = [];
  if (!PROSODY) {
    await ejabberdOnly(KS.at(-1)!, ticks);
    return;
  }
  for (const k of KS) {
    phases.push(await runE2e(k, ticks));
    console.log(row(phases.at(-1)!));
  }
  const last = phases.at(-1);
  if (!last) return;
  const fileOutbox = SPLIT ? await runE2e(last.k, ticks, { outbox: "file" }) : undefined;
  if (fileOutbox) console.log(row(fileOutbox));
  const v0Wire = SPLIT ? await runE2e(last.k, ticks, { outbox: "v0" }) : undefined;
  if (v0Wire) console.log(row(v0Wire));
  const memOutbox = SPLIT ? await runE2e(last.k, ticks, { outbox: "memory" }) : undefined;
  if (memOutbox) console.log(row(memOutbox));
  const alone = ALONE ? await runProsodyAlone(last.k, ticks) : undefined;
  if (alone) console.log(row(alone));
  const ejabberdE2e = EJABBERD ? await runEjabberdE2e(last.k, ticks, MESSAGES, LOG_LEVEL) : undefined;
  if (ejabberdE2e) console.log(row(ejabberdE2e));
  const ejabberdAlone = EJABBERD ? await runEjabberdAlone(last.k, ticks, MESSAGES) : undefined;
  if (ejabberdAlone) console.log(row(ejabberdAlone));
  for (const line of whereTheTimeGoes(last, memOutbox, alone)) console.log(line);
  if (fileOutbox) console.log(`# the outbox as one file per copy (before): ${ratioLine(fileOutbox, alone)}; as a log: ${ratioLine(last, alone)}`);
  if (v0Wire) console.log(`# one IQ per copy (v0, batching off): ${ratioLine(v0Wire, alone)}; batches (v1): ${ratioLine(last, alone)}`);
  if (ejabberdE2e && ejabberdAlone) {
    for (const line of whereTheTimeGoes(ejabberdE2e, undefined, undefined)) console.log(line);
    console.log(`# ejabberd with the module (Mnesia outbox): ${ratioLine(ejabberdE2e, ejabberdAlone)}`);
  }
  if (ROUNDS > 1 && alone) await moreRounds(last, alone, ticks);
  console.log(`# load after: ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}`);
  console.log(summary(last, alone, ejabberdE2e && ejabberdAlone ? { e2e: ejabberdE2e, alone: ejabberdAlone } : undefined));
  for (const line of probeReport(probed.get(last.label), probed.get("prosody-alone"))) console.log(line);
  for (const line of luaProfileReport(luaProfiles.get(last.label), luaProfiles.get("prosody-alone"))) console.log(line);
}

// BENCH_FS=ext4: the same run on a fresh journaled ext4 (./bench-fs.ts).
if (!(await runOnBenchFs())) await main();
