// CPU time of a process, from the kernel: what it cost, whichever language it is written in.
//   /proc/<pid>/stat             utime + stime of every thread, in clock ticks (proc(5))
//   /proc/<pid>/task/<pid>/schedstat  the main thread alone: ns on a CPU, ns runnable but waiting
//                                for one (Documentation/scheduler/sched-stats.rst)
// The second pair tells a saturated thread (never idle: running or queued) from a busy one, on a
// machine where other work competes for the cores.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

export interface CpuSample {
  /** performance.now() when read. */
  readonly at: number;
  /** utime and stime of all threads, in ms. */
  readonly userMs: number;
  readonly sysMs: number;
  /** The main thread's time on a CPU, in ms. */
  readonly mainRunMs: number;
  /** The main thread's time runnable but waiting for a CPU, in ms. */
  readonly mainWaitMs: number;
}

export interface CpuUse {
  readonly wallMs: number;
  /** user + sys. */
  readonly cpuMs: number;
  readonly userMs: number;
  readonly sysMs: number;
  /** The main thread's time on a CPU (from schedstat, in ns, so finer than cpuMs). */
  readonly mainMs: number;
  /** cpuMs / wallMs: 1.0 is one full core. */
  readonly util: number;
  /** The main thread's share of the wall time on a CPU. */
  readonly run: number;
  /** The main thread's share of the wall time queued for a CPU it did not get. */
  readonly wait: number;
}

/** Clock ticks per second (`getconf CLK_TCK`, 100 on Linux almost everywhere). */
export function clockTicks(): number {
  const ticks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
  if (!Number.isInteger(ticks) || ticks <= 0) throw new Error(`getconf CLK_TCK said ${ticks}`);
  return ticks;
}

/**
 * The threads that do an Erlang VM's work: its normal schedulers, named "1_scheduler", … up to
 * OTP 25 (ejabberd 23.01, Debian 12) and "erts_sched_1", … in OTP 27 (ejabberd 24.12, Debian 13; read
 * off its /proc/<pid>/task/<tid>/comm); the main thread of beam.smp only waits. Their average
 * stands in for "the main thread" there.
 */
export function beamSchedulerThreads(pid: number): number[] {
  const tids = readdirSync(`/proc/${pid}/task`).filter((tid) => /^(?:\d+_scheduler|erts_sched_\d+)$/.test(readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim()));
  if (tids.length === 0) throw new Error(`no scheduler threads in beam.smp ${pid}`);
  return tids.map(Number);
}

/**
 * The fields of a /proc stat file (/proc/<pid>/stat, /proc/<pid>/task/<tid>/stat) after the command
 * name: the name (field 2) is in parentheses and may hold spaces or parentheses itself, so fields
 * are counted from the last ')'. Index 0 is state (field 3): field N of proc(5) is index N - 3, so
 * ppid (4) is [1], utime (14) [11], stime (15) [12], cutime (16) [13], cstime (17) [14].
 */
export function statFields(file: string): string[] {
  const stat = readFileSync(file, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** A thread's schedstat (ns on a CPU, ns runnable but waiting for one), in ms. */
export function schedstatMs(file: string): { run: number; wait: number } {
  const [run, wait] = readFileSync(file, "utf8").trim().split(" ").map(Number);
  return { run: (run ?? NaN) / 1e6, wait: (wait ?? NaN) / 1e6 };
}

/** `threads`: whose schedstat is "the main thread" (averaged); default the process's own thread. */
export function sampleCpu(pid: number, ticksPerSecond: number, threads: readonly number[] = [pid]): CpuSample {
  const at = performance.now();
  const fields = statFields(`/proc/${pid}/stat`);
  const [utime, stime] = [Number(fields[11]), Number(fields[12])];
  let runMs = 0;
  let waitMs = 0;
  for (const tid of threads) {
    const t = schedstatMs(`/proc/${pid}/task/${tid}/schedstat`);
    runMs += t.run / threads.length;
    waitMs += t.wait / threads.length;
  }
  if (!Number.isFinite(utime + stime + runMs + waitMs)) throw new Error(`cannot parse /proc/${pid}/stat: ${fields.join(" ")}`);
  const ms = (ticks: number) => (ticks * 1000) / ticksPerSecond;
  return { at, userMs: ms(utime), sysMs: ms(stime), mainRunMs: runMs, mainWaitMs: waitMs };
}

export function cpuUse(from: CpuSample, to: CpuSample): CpuUse {
  const wallMs = to.at - from.at;
  const userMs = to.userMs - from.userMs;
  const sysMs = to.sysMs - from.sysMs;
  const mainMs = to.mainRunMs - from.mainRunMs;
  const cpuMs = userMs + sysMs;
  return { wallMs, cpuMs, userMs, sysMs, mainMs, util: cpuMs / wallMs, run: mainMs / wallMs, wait: (to.mainWaitMs - from.mainWaitMs) / wallMs };
}

/**
 * User and system time (ms) of a process and all its descendants, living or reaped (a reaped
 * child's time is in its parent's cutime and cstime): the whole of a multi-process server such as
 * Dovecot, whose LMTP sessions run in processes its master starts and ends.
 */
export function treeCpuMs(rootPid: number, ticksPerSecond: number): { userMs: number; sysMs: number } {
  const procs = new Map<number, { ppid: number; user: number; sys: number }>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let f: string[];
    try {
      f = statFields(`/proc/${name}/stat`);
    } catch {
      continue; // exited meanwhile
    }
    procs.set(Number(name), { ppid: Number(f[1]), user: Number(f[11]) + Number(f[13]), sys: Number(f[12]) + Number(f[14]) });
  }
  const inTree = (pid: number): boolean => {
    for (let p: number | undefined = pid; p !== undefined && p > 1; p = procs.get(p)?.ppid) if (p === rootPid) return true;
    return false;
  };
  let user = 0;
  let sys = 0;
  for (const [pid, p] of procs) {
    if (!inTree(pid)) continue;
    user += p.user;
    sys += p.sys;
  }
  const ms = (ticks: number) => (ticks * 1000) / ticksPerSecond;
  return { userMs: ms(user), sysMs: ms(sys) };
}
