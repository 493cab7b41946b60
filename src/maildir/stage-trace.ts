// Where a live copy's time goes, for `npm run bench` (docs/performance.md, "helper floor8"): with
// XMD_STAGE_TRACE=<file> set, every live delivery appends one JSON line with the wall
// time (ms since the epoch, sub-ms) at which it reached each stage of the write path, and every
// garbage collection one line with its start and length, so slow copies can be lined up with
// pauses. Unset (the default, and in production), nothing is recorded and nothing is loaded.
// Lines are buffered and appended in groups, and on exit.
import { appendFileSync } from "node:fs";
import { PerformanceObserver } from "node:perf_hooks";

const FILE = process.env.XMD_STAGE_TRACE;
/** Lines kept before one append (a few KB). */
const FLUSH_EVERY = 256;

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
