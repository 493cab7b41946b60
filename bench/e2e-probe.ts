// Load-independent measures of Prosody's cost per message for bench/e2e.ts (issue #15, target 1):
// Prosody's CPU time per message moved by ±40 % between runs of the same code on a shared machine,
// so "with the module ≤ 1.5× without" could not be shown either way. Two knobs:
//   BENCH_E2E_CALLGRIND=1  Prosody runs under `valgrind --tool=callgrind` (collection off at start),
//                          which is switched on for the load and dumped after it: instructions
//                          executed in user space per message, repeatable whatever else runs.
//   BENCH_E2E_STRACE=1     `strace -f -c` is attached to a native Prosody for the load: system calls
//                          per message (callgrind does not see the kernel's side).
// Host servers only (debian12): the wrapper is found through PATH, which a generation root ignores.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { chmod, mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { currentGeneration } from "../harness/generation.js";

const execFileAsync = promisify(execFile);

export const CALLGRIND = process.env.BENCH_E2E_CALLGRIND === "1";
export const STRACE = process.env.BENCH_E2E_STRACE === "1";
export const PROBING = CALLGRIND || STRACE;
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
}

let callgrindDir: string | undefined;

/** Before the first Prosody starts: puts a `prosody` that runs the real one under callgrind first in PATH. */
export async function setUpProbes(): Promise<void> {
  if (!PROBING) return;
  if (CALLGRIND && STRACE) throw new Error("BENCH_E2E_CALLGRIND and BENCH_E2E_STRACE: one at a time (both use ptrace)");
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
  return { stop: async () => undefined };
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
