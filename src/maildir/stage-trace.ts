// Where a live copy's time goes, for `npm run bench` (docs/performance.md, "helper floor8"): with
// XMD_STAGE_TRACE=<file> set, every live delivery appends one JSON line with the wall
// time (ms since the epoch, sub-ms) at which it reached each stage of the write path, and every
// garbage collection one line with its start and length, so slow copies can be lined up with
// pauses, and every ELD_EVERY_MS the main thread's event-loop delay over that window (how long a
// callback that was due waited: the main thread busy or off the CPU), so a copy slow to be taken
// up can be told from one slow in the thread pool. Unset (the default, and in production),
// nothing is recorded and nothing is loaded.
// Lines are buffered and appended in groups, and on exit.
import { appendFileSync } from "node:fs";
import { monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks";

const FILE = process.env.XMD_STAGE_TRACE;
/** Lines kept before one append (a few KB). */
const FLUSH_EVERY = 256;
/** Event-loop delay windows: short enough to see a stall of a few ms, a few lines a second. */
const ELD_EVERY_MS = 100;
/** The delay histogram's sampling step (ms): its own timer, so finer costs a wake-up per step. */
const ELD_RESOLUTION_MS = 1;

export type Stage = "start" | "tmp" | "fsync" | "journal" | "rename" | "dir";

export interface StageTrace {
  /** Records that the delivery reached `stage` now. */
  mark(stage: Stage): void;
  /** Records the delivery (its final path names it) and when the copy arrived (DeliverOptions.arrivedAt). */
  done(finalPath: string, arrivedAt: number | undefined): void;
}

let lines: string[] = [];

function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

function flush(): void {
  if (!FILE || lines.length === 0) return;
  const text = lines.join("");
  lines = [];
  appendFileSync(FILE, text);
}

function record(line: object): void {
  lines.push(`${JSON.stringify(line)}\n`);
  if (lines.length >= FLUSH_EVERY) flush();
}

if (FILE) {
  process.on("exit", flush);
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as { detail?: { kind?: number } }).detail?.kind;
      record({ gc: kind, at: performance.timeOrigin + entry.startTime, ms: entry.duration });
    }
  }).observe({ entryTypes: ["gc"] });
  const delay = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
  delay.enable();
  // Unref'd: the trace never keeps the process alive. Histogram values are in ns.
  setInterval(() => {
    if (delay.count > 0) record({ eld: wallMs(), max: delay.max / 1e6, p50: delay.percentile(50) / 1e6, n: delay.count });
    delay.reset();
  }, ELD_EVERY_MS).unref();
}

/** A trace for one delivery, or undefined when tracing is off. */
export function traceDelivery(): StageTrace | undefined {
  if (!FILE) return undefined;
  const at: Partial<Record<Stage, number>> = { start: wallMs() };
  return {
    mark(stage) {
      at[stage] = wallMs();
    },
    done(finalPath, arrivedAt) {
      record({ path: finalPath, arrived: arrivedAt, ...at });
    },
  };
}
