// The replay loop, shared by `replay` and `import`: index the source, select, order by original
// time, skip what the checkpoint says is done, then load → select again → pace → deliver, counting
// every outcome. A bad entry is logged with its path and counted, never fatal; only a failure that
// would fail every entry alike (the XMPP server refusing us) stops the run.
import { createEntryHandler, settle, type LoadResult } from "./handle.js";
import type { ReplayJob, ReplayResult } from "./job.js";
import { entrySelected } from "./selection.js";
import { runStream } from "./stream.js";
import { createTally } from "./summary.js";

export type { ReplayJob, ReplayResult } from "./job.js";

/** Messages parsed ahead of the one being delivered: hides file reads and MIME parsing behind delivery. */
const PREFETCH = 32;

export async function runReplay(job: ReplayJob): Promise<ReplayResult> {
  if ("open" in job.source) return runStream(job, job.source);
  const started = performance.now();
  const { logger, target } = job;
  const tally = createTally();
  const scan = await job.source.scan();
  for (const problem of scan.problems) {
    logger.warn({ path: problem.location, reason: problem.reason }, "skipped a malformed file");
    tally.failed("malformed (not readable as an archived message)");
  }
  const selected = scan.entries.filter((e) => entrySelected(job.selection, e));
  // Original time, then key: a stable order, so a resumed run sees the same sequence.
  selected.sort((a, b) => (a.time?.getTime() ?? 0) - (b.time?.getTime() ?? 0) || a.tiebreak - b.tiebreak || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const todo = job.checkpoint ? selected.filter((e) => !job.checkpoint!.has(e.key)) : selected;
  const alreadyDone = selected.length - todo.length;
  const handler = createEntryHandler(job, tally);

  const loads = new Map<number, Promise<LoadResult>>();
  let nextLoad = 0;
  const prefetch = (upTo: number) => {
    for (; nextLoad < Math.min(upTo, todo.length); nextLoad++) loads.set(nextLoad, settle(todo[nextLoad]!, target));
  };

  async function handle(index: number): Promise<void> {
    prefetch(index + PREFETCH);
    const loaded = await loads.get(index)!;
    loads.delete(index);
    await handler.handle(todo[index]!, loaded);
  }

  job.progress.start(todo.length);
  let next = 0;
  const stopped = () => handler.fatal !== undefined || job.signal?.aborted === true;
  const worker = async () => {
    while (next < todo.length && !stopped()) await handle(next++);
  };
  const workers = target.ordered ? 1 : Math.max(1, job.concurrency, job.target.minInFlight ?? 0);
  try {
    await Promise.all(Array.from({ length: workers }, worker));
    // Let loads started ahead of an interruption settle, so nothing rejects unobserved.
    await Promise.allSettled(loads.values());
  } finally {
    job.progress.stop();
  }
  const summary = tally.finish({
    scanned: scan.entries.length + scan.problems.length,
    selected: selected.length - handler.deselected + scan.problems.length,
    alreadyDone,
    interrupted: stopped() && next < todo.length,
    dryRun: job.dryRun,
    elapsedMs: performance.now() - started,
  });
  return { summary, fatal: handler.fatal };
}
