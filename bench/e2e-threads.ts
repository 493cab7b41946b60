// The component's CPU per copy by thread (/proc/<pid>/task/<tid>/stat, utime and stime), for the
// line under each row: which part of "component ms/msg" is the main thread (JavaScript, the
// synchronous file calls) and which the other threads. Node 20 names none of them, so they are
// told apart by what they do: libuv's pool threads run the fsyncs (mostly system time), V8's
// platform workers run the garbage collector's parallel and concurrent work and the optimising
// compiler (user time).
import { readdirSync } from "node:fs";
import { statFields } from "./proc-stat.js";

export type ThreadSample = Map<number, { user: number; sys: number }>;

export function sampleThreads(pid: number): ThreadSample {
  const out: ThreadSample = new Map();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const fields = statFields(`/proc/${pid}/task/${tid}/stat`);
      out.set(Number(tid), { user: Number(fields[11]), sys: Number(fields[12]) });
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

/** One line: main thread, then every other thread that used CPU, as user+sys ms per copy. */
export function threadsLine(pid: number, before: ThreadSample, after: ThreadSample, ticksPerSecond: number, copies: number): string {
  const per = (ticks: number) => ((ticks * 1000) / ticksPerSecond / copies).toFixed(2);
  const parts: string[] = [];
  let otherUser = 0;
  let otherSys = 0;
  for (const [tid, end] of [...after].sort((a, b) => a[0] - b[0])) {
    const start = before.get(tid) ?? { user: 0, sys: 0 };
    const user = end.user - start.user;
    const sys = end.sys - start.sys;
    if (tid === pid) parts.unshift(`main ${per(user)}+${per(sys)}`);
    else if (user + sys > 0) {
      parts.push(`${tid - pid}: ${per(user)}+${per(sys)}`);
      otherUser += user;
      otherSys += sys;
    }
  }
  return `# component threads, user+sys ms/copy: ${parts.join(", ")}; other threads together ${per(otherUser)}+${per(otherSys)} (thread = tid − pid)`;
}
