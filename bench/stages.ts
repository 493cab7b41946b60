// Where the component's slow steady copies spend their time (BENCH_STAGES=1 in ./throughput.ts):
// the component writes one line per delivery with the wall time of each stage of its write path
// (src/maildir/stage-trace.ts) and one per garbage collection; the bench knows when it sent each
// copy and when its result came back. Both are wall clocks of the same machine (performance's
// timeOrigin + now()), so they line up to well under a millisecond.
//   recv     sent → the component's handler took it (socket, XML parse, event-loop backlog)
//   pre      → the write began (limiter, dedupe lookup, capture, placement, render)
//   tmp      → tmp/ file created (thread pool) and written
//   fsync    → the mail's fsync (thread pool) and close
//   journal  → the dedupe journal's P line synced (group commit, thread pool)
//   rename   → renamed into new/
//   dir      → new/ fsynced (shared by renames meanwhile, thread pool)
//   result   → the IQ result reached the bench (log line, serialise, socket, the bench's loop)
import { readFileSync } from "node:fs";
import { percentile } from "./steady.js";

/** src/maildir/stage-trace.ts ELD_EVERY_MS. */
const ELD_WINDOW_MS = 100;
const STAGES = ["recv", "pre", "tmp", "fsync", "journal", "rename", "dir", "result"] as const;
type StageName = (typeof STAGES)[number];

interface Delivery {
  path: string;
  arrived: number;
  start: number;
  tmp: number;
  fsync: number;
  journal?: number;
  rename: number;
  dir: number;
}

interface Gc {
  gc: number;
  at: number;
  ms: number;
}

/** The main thread's event-loop delay over the window that ended at `eld` (ms, 1 ms step included). */
interface Eld {
  eld: number;
  max: number;
  p50: number;
}

/** When the bench sent a copy and when its result came back (wall ms). */
export interface SentTimes {
  readonly sent: number;
  readonly received: number;
}

/** The copy's iq id, from its mail: the stanza is in it, quoted-printable (soft breaks `=\n`). */
function copyIdOf(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, "latin1");
  } catch {
    return undefined;
  }
  return /id=3D"m-([^"]+)"/.exec(text.replace(/=\r?\n/g, ""))?.[1];
}

export function stageReport(traceFile: string, times: ReadonlyMap<string, SentTimes>): string[] {
  const deliveries = new Map<string, Delivery>();
  const gcs: Gc[] = [];
  const elds: Eld[] = [];
  for (const line of readFileSync(traceFile, "utf8").split("\n")) {
    if (!line) continue;
    const entry = JSON.parse(line) as Delivery | Gc | Eld;
    if ("gc" in entry) gcs.push(entry);
    else if ("eld" in entry) elds.push(entry);
    else {
      const id = copyIdOf(entry.path);
      if (id && times.has(id)) deliveries.set(id, entry);
    }
  }
  // Only the pauses inside the steady phase.
  const from = Math.min(...[...times.values()].map((t) => t.sent));
  const to = Math.max(...[...times.values()].map((t) => t.received));
  const inPhase = gcs.filter((g) => g.at + g.ms >= from && g.at <= to);
  const eldInPhase = elds.filter((e) => e.eld >= from && e.eld <= to);
  /** The longest event-loop delay in the windows that overlap [a, b] (a window ends at `eld`). */
  const eldMax = (a: number, b: number) => Math.max(0, ...eldInPhase.filter((e) => e.eld >= a && e.eld - ELD_WINDOW_MS <= b).map((e) => e.max));
  const rows: Array<{ id: string; total: number; stages: Record<StageName, number>; gcMs: number; eldMs: number }> = [];
  for (const [id, d] of deliveries) {
    const t = times.get(id)!;
    const journal = d.journal ?? d.fsync;
    const stages: Record<StageName, number> = {
      recv: d.arrived - t.sent,
      pre: d.start - d.arrived,
      tmp: d.tmp - d.start,
      fsync: d.fsync - d.tmp,
      journal: journal - d.fsync,
      rename: d.rename - journal,
      dir: d.dir - d.rename,
      result: t.received - d.dir,
    };
    // GC time inside this copy's life (a pause stops everything on the main thread).
    let gcMs = 0;
    for (const g of inPhase) gcMs += Math.max(0, Math.min(g.at + g.ms, t.received) - Math.max(g.at, t.sent));
    rows.push({ id, total: t.received - t.sent, stages, gcMs, eldMs: eldMax(t.sent, t.received) });
  }
  if (rows.length === 0) return ["# stages: no traced copy matched the steady phase"];
  const p99 = percentile(rows.map((r) => r.total), 99);
  const slow = rows.filter((r) => r.total >= p99);
  const fmt = (x: number) => x.toFixed(1).padStart(7);
  const mean = (rs: typeof rows, f: (r: (typeof rows)[number]) => number) => rs.reduce((s, r) => s + f(r), 0) / rs.length;
  const largest = new Map<string, number>();
  for (const r of slow) {
    const top = STAGES.reduce((a, b) => (r.stages[a] >= r.stages[b] ? a : b));
    largest.set(top, (largest.get(top) ?? 0) + 1);
  }
  const gcPauses = inPhase.map((g) => g.ms);
  const out = [
    `# stages of ${rows.length} steady copies (ms)      ${STAGES.map((s) => s.padStart(7)).join("")}    total   in_gc`,
    `# median of all                        ${STAGES.map((s) => fmt(percentile(rows.map((r) => r.stages[s]), 50))).join("")}  ${fmt(percentile(rows.map((r) => r.total), 50))} ${fmt(percentile(rows.map((r) => r.gcMs), 50))}`,
    `# p99 of each stage alone              ${STAGES.map((s) => fmt(percentile(rows.map((r) => r.stages[s]), 99))).join("")}`,
    `# mean of the ${String(slow.length).padStart(3)} copies >= p99 ${fmt(p99)}  ${STAGES.map((s) => fmt(mean(slow, (r) => r.stages[s]))).join("")}  ${fmt(mean(slow, (r) => r.total))} ${fmt(mean(slow, (r) => r.gcMs))}`,
    `# largest stage of those: ${[...largest].sort((a, b) => b[1] - a[1]).map(([s, n]) => `${s} ${n}`).join(", ")}`,
    `# gc during the steady phase: ${inPhase.length} pauses, p50 ${percentile(gcPauses, 50).toFixed(2)} ms, max ${Math.max(0, ...gcPauses).toFixed(2)} ms, total ${gcPauses.reduce((a, b) => a + b, 0).toFixed(0)} ms`,
  ];
  if (eldInPhase.length > 0) {
    const maxes = eldInPhase.map((e) => e.max);
    out.push(
      `# event-loop delay (${ELD_WINDOW_MS} ms windows, 1 ms step included): window max p50 ${percentile(maxes, 50).toFixed(1)}, p99 ${percentile(maxes, 99).toFixed(1)}, max ${Math.max(...maxes).toFixed(1)} ms;` +
        ` longest delay in the life of a copy >= p99: mean ${mean(slow, (r) => r.eldMs).toFixed(1)} ms, of all copies p50 ${percentile(rows.map((r) => r.eldMs), 50).toFixed(1)} ms`,
    );
  }
  // The phase's first second by tenths: a start-up transient shows here (copies >= p99, the median
  // copy, the longest event-loop delay).
  const tenths: string[] = [];
  for (let t = 0; t < 10; t++) {
    const inTenth = rows.filter((r) => Math.floor((times.get(r.id)!.sent - from) / 100) === t);
    if (inTenth.length === 0) continue;
    const slowHere = inTenth.filter((r) => r.total >= p99).length;
    tenths.push(`${t / 10}s ${slowHere}/${percentile(inTenth.map((r) => r.total), 50).toFixed(1)}/${eldMax(from + t * 100, from + (t + 1) * 100).toFixed(1)}`);
  }
  out.push(`# first second by 0.1 s (copies >= p99 / median ms / longest event-loop delay ms): ${tenths.join(", ")}`);
  // When in the phase the slow copies were sent (a warm-up effect shows as a cluster at the start).
  const perSecond = new Map<number, number>();
  for (const r of slow) {
    const second = Math.floor((times.get(r.id)!.sent - from) / 1000);
    perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
  }
  // The same percentile without the phase's first second (a diagnostic: is the tail one transient?).
  const later = rows.filter((r) => times.get(r.id)!.sent - from >= 1000).map((r) => r.total);
  out.push(`# p99 of the copies sent after the first second: ${percentile(later, 99).toFixed(1)} ms (${later.length} copies)`);
  out.push(`# copies >= p99 by second of the phase: ${[...perSecond].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}s ${n}`).join(", ")}`);
  for (const r of [...slow].sort((a, b) => b.total - a.total).slice(0, 5)) {
    out.push(`#   ${r.id.padEnd(34)} ${STAGES.map((s) => fmt(r.stages[s])).join("")}  ${fmt(r.total)} ${fmt(r.gcMs)} eld ${r.eldMs.toFixed(1)}`);
  }
  return out;
}
