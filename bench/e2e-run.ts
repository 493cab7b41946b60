// What every run of bench/e2e.ts shares, whichever XMPP server it drives: waiting for the
// component's "stored" lines, sampling each process's CPU around the load, the users.
import type { ComponentProcess } from "../harness/component.js";
import { PARTS, type Part } from "./e2e-report.js";
import { cpuUse, sampleCpu, type CpuSample, type CpuUse } from "./proc-stat.js";

export const RECIPIENTS = Number(process.env.BENCH_E2E_RECIPIENTS ?? 50);
/** 2,000 fsync'd deliveries take seconds; a busy shared machine can make it minutes. */
export const SETTLE_TIMEOUT_MS = 300_000;
/** How often the component's log and the server's outbox are looked at while waiting. */
export const POLL_MS = 20;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits for `n` "stored" lines; returns the wall-clock time (epoch ms, pino's `time`) of the last. */
export async function waitForStored(component: ComponentProcess, n: number): Promise<number> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  let cursor = 0;
  let stored = 0;
  let lastAt = 0;
  for (;;) {
    const logs = component.logs;
    for (; cursor < logs.length; cursor++) {
      const line = logs[cursor]!;
      if (line.msg === "stored") {
        stored += 1;
        lastAt = Number(line.time);
      } else if (line.level >= 50) {
        throw new Error(`the component logged an error: ${JSON.stringify(line)}`);
      }
    }
    if (stored >= n) return lastAt;
    if (component.child.exitCode !== null || component.child.signalCode !== null) throw new Error(`the component exited after ${stored} of ${n} stored: ${component.stderr()}`);
    if (Date.now() > deadline) throw new Error(`only ${stored} of ${n} stored after ${SETTLE_TIMEOUT_MS} ms`);
    await sleep(POLL_MS);
  }
}

/** A process to sample, and (for beam.smp) the threads that stand for its main thread. */
export type Sampled = number | { readonly pid: number; readonly threads: readonly number[] };

/** Runs the load, sampling each process's CPU before the first send and when `run` resolves (with the end time). */
export async function measure(pids: Partial<Record<Part, Sampled>>, ticks: number, run: () => Promise<number>): Promise<{ seconds: number; use: Partial<Record<Part, CpuUse>> }> {
  const parts = PARTS.filter((p) => pids[p] !== undefined);
  const one = (s: Sampled) => (typeof s === "number" ? sampleCpu(s, ticks) : sampleCpu(s.pid, ticks, s.threads));
  const sample = () => new Map(parts.map((p) => [p, one(pids[p]!)] as const));
  const before = sample();
  const startedAt = Date.now();
  const endedAt = await run();
  const after = sample();
  return { seconds: (endedAt - startedAt) / 1000, use: Object.fromEntries(parts.map((p) => [p, cpuUse(before.get(p) as CpuSample, after.get(p) as CpuSample)])) };
}

export function users(k: number): { senders: string[]; recipients: string[] } {
  return { senders: Array.from({ length: k }, (_, i) => `s${i}`), recipients: Array.from({ length: RECIPIENTS }, (_, i) => `r${i}`) };
}
