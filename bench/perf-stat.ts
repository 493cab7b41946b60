// BENCH_PERF_STAT=1 (bench/e2e.ts and bench/throughput.ts): `perf stat` attached to the component
// for the measured load, counting its system calls by kind and its context switches, printed per
// copy. Unlike strace (ptrace stops every call, and the component's timing with it) the kernel's
// tracepoints cost little, so the counts come from a run at about its usual pace. Needs perf and
// tracepoints (root or perf_event_paranoid ≤ 1). BENCH_PERF_STAT_EVENTS replaces the default list.
import { spawn } from "node:child_process";

export const PERF_STAT = process.env.BENCH_PERF_STAT === "1";

/**
 * Every system call, then the ones a durable store makes per copy: fsync of the mail and of new/,
 * the journal's fdatasync, the tmp/ create, the rename; futex and epoll for the thread pool's
 * hand-offs and wakeups.
 */
const DEFAULT_EVENTS = [
  "raw_syscalls:sys_enter",
  "syscalls:sys_enter_fsync",
  "syscalls:sys_enter_fdatasync",
  "syscalls:sys_enter_openat",
  "syscalls:sys_enter_rename",
  "syscalls:sys_enter_write",
  "syscalls:sys_enter_read",
  "syscalls:sys_enter_futex",
  "syscalls:sys_enter_epoll_wait",
  "context-switches",
];

export interface PerfStat {
  /** Stops counting; the counts per copy as one `#` line (empty without BENCH_PERF_STAT). */
  stop(copies: number): Promise<string>;
}

/** Starts counting for process `pid` (all its threads). */
export function startPerfStat(pid: number, label: string): PerfStat {
  if (!PERF_STAT) return { stop: async () => "" };
  const events = process.env.BENCH_PERF_STAT_EVENTS ?? DEFAULT_EVENTS.join(",");
  const perf = spawn("perf", ["stat", "-x", ",", "-e", events, "-p", String(pid)], { stdio: ["ignore", "ignore", "pipe"] });
  let out = "";
  perf.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve, reject) => {
    perf.once("error", reject);
    perf.once("exit", resolve);
  });
  return {
    async stop(copies) {
      perf.kill("SIGINT");
      const code = await exited;
      // perf stat -x: value,unit,event,...; "<not counted>" or "<not supported>" when it could not.
      const counts = out
        .split("\n")
        .map((l) => l.split(","))
        .filter((f) => f.length > 2 && f[2] !== "" && /^\d+$/.test(f[0] ?? ""))
        .map((f) => `${f[2]!.replace(/^(raw_)?syscalls:sys_enter_?/, "") || "syscalls"} ${(Number(f[0]) / copies).toFixed(2)}`);
      if (counts.length === 0) throw new Error(`perf stat (exit ${code}) counted nothing for ${label}: ${out.trim()}`);
      return `# ${label}: per copy (perf stat): ${counts.join(", ")}`;
    },
  };
}
