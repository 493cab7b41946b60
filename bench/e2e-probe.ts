// Load-independent measures of Prosody's cost per message for bench/e2e.ts (issue #15, target 1):
// Prosody's CPU time per message moved by ±40 % between runs of the same code on a shared machine,
// so "with the module ≤ 1.5× without" could not be shown either way. Two knobs:
//   BENCH_E2E_CALLGRIND=1  Prosody runs under `valgrind --tool=callgrind` (collection off at start),
//                          which is switched on for the load and dumped after it: instructions
//                          executed in user space per message, repeatable whatever else runs.
//   BENCH_E2E_STRACE=1     `strace -f -c` is attached to a native Prosody for the load: system calls
//                          per message (callgrind does not see the kernel's side).
//   BENCH_E2E_PERF=1       `perf record` (a timer sample every ~1 ms of CPU, no ptrace, so the rates
//                          stay comparable) is attached to Prosody for the load: where its CPU time
//                          goes, per message, by library and function, kernel included; the two rows
//                          side by side. Lua functions are not seen by name, only the interpreter's
//                          C (luaV_execute, the collector, tables, strings), expat, libc and the kernel.
//                          BENCH_E2E_PERF_DIR=DIR keeps each row's perf.data there, recorded with
//                          call graphs (-g), for `perf report -i DIR/<row>.data -g caller`.
// Callgrind and strace: host servers only (debian12): the wrapper is found through PATH, which a
// generation root ignores. perf attaches by pid and runs on either generation.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { setTimeout as delay } from "node:timers/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { currentGeneration } from "../harness/generation.js";

const execFileAsync = promisify(execFile);

export const CALLGRIND = process.env.BENCH_E2E_CALLGRIND === "1";
export const STRACE = process.env.BENCH_E2E_STRACE === "1";
export const PERF = process.env.BENCH_E2E_PERF === "1";
/** Callgrind and strace slow Prosody down many times, so their rows' rates are not the bench's; perf does not. */
export const PROBING = CALLGRIND || STRACE;
/** perf record's sampling frequency (Hz of CPU time, per thread). */
const PERF_HZ = 997;
const PERF_DIR = process.env.BENCH_E2E_PERF_DIR;
/** callgrind_control talks to valgrind through vgdb; a slow VM can take seconds. */
const CONTROL_TIMEOUT_MS = 60_000;

export interface ProbeResult {
  readonly label: string;
  readonly messages: number;
  /** Instructions (callgrind's Ir) while the load ran. */
  readonly instructions?: number;
  /** The dump, for callgrind_annotate. */
  readonly file?: string;
  /** System calls while the load ran, and strace's table of them. */
  readonly syscalls?: number;
  readonly syscallTable?: string;
  /** perf samples while the load ran, by "dso symbol", and in all. */
  readonly samples?: Map<string, number>;
  readonly sampleTotal?: number;
}

let callgrindDir: string | undefined;

/** Before the first Prosody starts: puts a `prosody` that runs the real one under callgrind first in PATH. */
export async function setUpProbes(): Promise<void> {
  if (!PROBING && !PERF) return;
  if ([CALLGRIND, STRACE, PERF].filter(Boolean).length > 1) throw new Error("BENCH_E2E_CALLGRIND, BENCH_E2E_STRACE and BENCH_E2E_PERF: one at a time");
  if (PERF) {
    await execFileAsync("perf", ["--version"]).catch(() => {
      throw new Error("BENCH_E2E_PERF=1 needs perf (Debian: apt-get install linux-perf)");
    });
    return;
  }
  if (currentGeneration().root !== undefined) throw new Error("BENCH_E2E_CALLGRIND/STRACE run the host's Prosody only (XMPP_MAILDIR_SERVERS=debian12)");
  if (!CALLGRIND) return;
  const { stdout } = await execFileAsync("sh", ["-c", "command -v prosody"]);
  const prosody = stdout.trim();
  const lua = (await readFile(prosody, "utf8")).split("\n")[0]!.match(/^#!\s*\S*env\s+(\S+)|^#!\s*(\S+)/);
  const interpreter = lua?.[1] ?? lua?.[2];
  if (!prosody || !interpreter) throw new Error(`cannot tell how to run ${prosody || "prosody"} under valgrind`);
  callgrindDir = await mkdtemp(path.join(os.tmpdir(), "xmd-bench-callgrind-"));
  const wrapper = path.join(callgrindDir, "prosody");
  await writeFile(wrapper, `#!/bin/sh\nexec valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=${callgrindDir}/cg.%p ${interpreter} ${prosody} "$@"\n`);
  await chmod(wrapper, 0o755);
  process.env.PATH = `${callgrindDir}:${process.env.PATH ?? ""}`;
  console.log(`# Prosody runs under callgrind (${prosody} by ${interpreter}); dumps in ${callgrindDir}`);
}

export interface Probe {
  stop(): Promise<ProbeResult | undefined>;
}

async function callgrindControl(pid: number, ...args: string[]): Promise<void> {
  await execFileAsync("callgrind_control", [...args, String(pid)], { timeout: CONTROL_TIMEOUT_MS });
}

/** Starts counting for Prosody `pid` (no-op without a knob); stop() returns what was counted. */
export async function startProbe(pid: number, label: string, messages: number): Promise<Probe> {
  if (CALLGRIND) {
    await callgrindControl(pid, "-z");
    await callgrindControl(pid, "-i", "on");
    return {
      async stop() {
        await callgrindControl(pid, "-d");
        await callgrindControl(pid, "-i", "off");
        const dumps = (await readdir(callgrindDir!)).filter((f) => f.startsWith(`cg.${pid}.`)).sort((a, b) => Number(a.split(".").at(-1)) - Number(b.split(".").at(-1)));
        const file = path.join(callgrindDir!, dumps.at(-1) ?? `cg.${pid}.1`);
        const text = await readFile(file, "utf8");
        const total = text.match(/^(?:summary|totals): (\d+)/m);
        if (!total) throw new Error(`no totals in ${file}`);
        return { label, messages, instructions: Number(total[1]), file };
      },
    };
  }
  if (STRACE) {
    const out = path.join(await mkdtemp(path.join(os.tmpdir(), "xmd-bench-strace-")), "strace.txt");
    const child: ChildProcess = spawn("strace", ["-f", "-c", "-o", out, "-p", String(pid)], { stdio: ["ignore", "ignore", "pipe"] });
    await new Promise<void>((resolve, reject) => {
      let err = "";
      child.stderr!.on("data", (chunk: Buffer) => {
        err += chunk.toString();
        if (/attached/.test(err)) resolve();
      });
      child.once("exit", (code) => reject(new Error(`strace exited (${code}) before attaching: ${err}`)));
    });
    return {
      async stop() {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGINT");
        await exited;
        const table = await readFile(out, "utf8");
        const total = table.match(/^\s*100\.00\s+\S+\s+\S+\s+(\d+)\s+(?:\d+\s+)?total\s*$/m);
        if (!total) throw new Error(`no total line in ${out}:\n${table}`);
        return { label, messages, syscalls: Number(total[1]), syscallTable: table };
      },
    };
  }
  if (PERF) {
    const out = PERF_DIR ? path.resolve(PERF_DIR, `${label}.data`) : path.join(await mkdtemp(path.join(os.tmpdir(), "xmd-bench-perf-")), "perf.data");
    const child: ChildProcess = spawn("perf", ["record", "-q", ...(PERF_DIR ? ["-g"] : []), "-F", String(PERF_HZ), "-p", String(pid), "-o", out], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr!.on("data", (chunk: Buffer) => (err += chunk.toString()));
    const exited = new Promise<number | null>((r) => child.once("exit", r));
    // perf writes its header once it is attached.
    for (let waited = 0; ; waited += 50) {
      const size = await stat(out).then((s) => s.size, () => 0);
      if (size > 0) break;
      if (child.exitCode !== null || waited > 10_000) throw new Error(`perf record did not start on ${pid}: ${err}`);
      await delay(50);
    }
    return {
      async stop() {
        child.kill("SIGINT");
        await exited;
        const { stdout } = await execFileAsync("perf", ["report", "-i", out, "--stdio", "-q", "--no-children", "--sort", "dso,sym", "-F", "sample,dso,sym"], { maxBuffer: 64 * 1024 * 1024 });
        const samples = new Map<string, number>();
        let sampleTotal = 0;
        for (const line of stdout.split("\n")) {
          const m = line.match(/^\s*(\d+)\s+(\S+(?: tid \d+)?)\s+\[[.k]\]\s+(.*?)\s*$/);
          if (!m) continue;
          const n = Number(m[1]);
          const key = `${m[2]} ${m[3]}`;
          samples.set(key, (samples.get(key) ?? 0) + n);
          sampleTotal += n;
        }
        if (sampleTotal === 0) throw new Error(`perf recorded no samples of ${pid} (${out}): ${err}`);
        if (!PERF_DIR) await rm(path.dirname(out), { recursive: true, force: true });
        return { label, messages, samples, sampleTotal };
      },
    };
  }
  return { stop: async () => undefined };
}

/** A perf sample's library, shortened: liblua5.4.so.0 -> liblua, [kernel.kallsyms] -> kernel. */
function dsoGroup(dso: string): string {
  if (dso === "[kernel.kallsyms]") return "kernel";
  const m = dso.match(/^(lib[a-z]+)/);
  return m ? m[1]! : dso;
}

/** Each row's CPU per message by library, then the functions that grew most, in µs per message. */
function perfReport(withModule: ProbeResult, alone: ProbeResult): string[] {
  const us = (n: number, r: ProbeResult) => (n / r.messages / PERF_HZ) * 1e6;
  const byGroup = (r: ProbeResult) => {
    const m = new Map<string, number>();
    for (const [key, n] of r.samples!) {
      const group = dsoGroup(key.split(" ")[0]!);
      m.set(group, (m.get(group) ?? 0) + n);
    }
    return m;
  };
  const gw = byGroup(withModule);
  const ga = byGroup(alone);
  const groups = [...new Set([...gw.keys(), ...ga.keys()])].sort((a, b) => (gw.get(b) ?? 0) - (gw.get(a) ?? 0));
  const lines = [`# perf: Prosody's CPU in µs per message (samples at ${PERF_HZ} Hz ÷ messages), ${withModule.label} | prosody-alone | difference`];
  const fmt = (x: number) => x.toFixed(1).padStart(7);
  lines.push(`#   ${"all".padEnd(24)} ${fmt(us(withModule.sampleTotal!, withModule))} ${fmt(us(alone.sampleTotal!, alone))} ${fmt(us(withModule.sampleTotal!, withModule) - us(alone.sampleTotal!, alone))}`);
  for (const g of groups) {
    const w = us(gw.get(g) ?? 0, withModule);
    const a = us(ga.get(g) ?? 0, alone);
    if (w < 1 && a < 1) continue;
    lines.push(`#   ${g.padEnd(24)} ${fmt(w)} ${fmt(a)} ${fmt(w - a)}`);
  }
  const keys = [...new Set([...withModule.samples!.keys(), ...alone.samples!.keys()])];
  const diff = keys
    .map((k) => ({ k, w: us(withModule.samples!.get(k) ?? 0, withModule), a: us(alone.samples!.get(k) ?? 0, alone) }))
    .sort((x, y) => y.w - y.a - (x.w - x.a));
  lines.push("#   the 25 functions that grew most (µs/msg with | alone | difference):");
  for (const d of diff.slice(0, 25)) {
    const [dso, ...sym] = d.k.split(" ");
    lines.push(`#     ${`${dsoGroup(dso!)} ${sym.join(" ")}`.slice(0, 52).padEnd(52)} ${fmt(d.w)} ${fmt(d.a)} ${fmt(d.w - d.a)}`);
  }
  const share = (x: number) => `${((100 * x) / us(withModule.sampleTotal!, withModule)).toFixed(0)} %`;
  const total = us(withModule.sampleTotal!, withModule) - us(alone.sampleTotal!, alone);
  lines.push(`prosody_perf_us_per_msg=${us(withModule.sampleTotal!, withModule).toFixed(0)} prosody_alone_perf_us_per_msg=${us(alone.sampleTotal!, alone).toFixed(0)} prosody_perf_ratio=${(us(withModule.sampleTotal!, withModule) / us(alone.sampleTotal!, alone)).toFixed(3)} (the module's share of Prosody's CPU ${share(total)})`);
  return lines;
}

const perMessage = (n: number | undefined, messages: number) => (n === undefined ? undefined : n / messages);

/** The lines printed at the end: each row's count per message, and with ÷ without the module. */
export function probeReport(withModule: ProbeResult | undefined, alone: ProbeResult | undefined): string[] {
  const lines: string[] = [];
  for (const r of [withModule, alone]) {
    if (!r) continue;
    if (r.instructions !== undefined) lines.push(`# callgrind ${r.label}: ${r.instructions} Ir over ${r.messages} messages = ${Math.round(r.instructions / r.messages)} Ir/msg (${r.file})`);
    if (r.syscalls !== undefined) lines.push(`# strace ${r.label}: ${r.syscalls} system calls over ${r.messages} messages = ${(r.syscalls / r.messages).toFixed(2)}/msg\n${r.syscallTable!.split("\n").slice(0, 14).map((l) => `#   ${l}`).join("\n")}`);
  }
  if (!withModule || !alone) return lines;
  if (withModule.samples && alone.samples) lines.push(...perfReport(withModule, alone));
  const ir = [perMessage(withModule.instructions, withModule.messages), perMessage(alone.instructions, alone.messages)];
  const sc = [perMessage(withModule.syscalls, withModule.messages), perMessage(alone.syscalls, alone.messages)];
  if (ir[0] !== undefined && ir[1] !== undefined) {
    lines.push(`prosody_ir_per_msg=${Math.round(ir[0])} prosody_alone_ir_per_msg=${Math.round(ir[1])} prosody_ir_ratio=${(ir[0] / ir[1]).toFixed(3)}`);
  }
  if (sc[0] !== undefined && sc[1] !== undefined) {
    lines.push(`prosody_syscalls_per_msg=${sc[0].toFixed(2)} prosody_alone_syscalls_per_msg=${sc[1].toFixed(2)} prosody_syscall_ratio=${(sc[0] / sc[1]).toFixed(3)}`);
  }
  return lines;
}
