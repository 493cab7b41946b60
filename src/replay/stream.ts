// The replay loop for a streamed source (a database): rows come from one snapshot, in time order,
// one at a time, and go straight to the workers. Nothing but the rows in flight is held, so memory
// stays flat whatever the size of the table. Otherwise the same as engine.ts: the index selection,
// the checkpoint, then the shared per-entry handling.
import { createEntryHandler, settle } from "./handle.js";
import type { ReplayJob, ReplayResult } from "./job.js";
import { entrySelected } from "./selection.js";
import { createTally } from "./summary.js";
import type { Problem, SourceEntry, StreamSource } from "./types.js";

export async function runStream(job: ReplayJob, source: StreamSource): Promise<ReplayResult> {
  const started = performance.now();
  const tally = createTally();
  const handler = createEntryHandler(job, tally);
  const stream = await source.open();
  let scanned = 0;
  let selected = 0;
  let alreadyDone = 0;
  let exhausted = false;
  const stopped = () => handler.fatal !== undefined || job.signal?.aborted === true;
  try {
    const rows = stream.entries[Symbol.asyncIterator]();
    // One pull at a time: the workers share the iterator, and a driver's cursor is not re-entrant.
    let pulling: Promise<unknown> = Promise.resolve();
    const pull = (): Promise<IteratorResult<SourceEntry | Problem>> => {
      const next = pulling.then(() => rows.next());
      pulling = next.catch(() => undefined);
      return next;
    };
    const worker = async () => {
      while (!exhausted && !stopped()) {
        const row = await pull();
        if (row.done) {
          exhausted = true;
          return;
        }
        scanned += 1;
        const item = row.value;
        if ("problem" in item) {
          selected += 1;
          job.logger.warn({ path: item.location, reason: item.reason }, "skipped a malformed row");
          tally.failed("malformed (not readable as an archived message)");
          continue;
        }
        if (!entrySelected(job.selection, item)) continue;
        selected += 1;
        if (job.checkpoint?.has(item.key)) {
          alreadyDone += 1;
          continue;
        }
        await handler.handle(item, await settle(item, job.target));
      }
    };
    job.progress.start(stream.total);
    const workers = job.target.ordered ? 1 : Math.max(1, job.concurrency, job.target.minInFlight ?? 0);
    try {
      // A source that fails mid-stream (a cut export, a lost connection) stops the pulls, but the
      // rows already read finish their delivery before the error is raised: the target may be
      // closed right after, and what was read is imported, as the summary says.
      const ends = await Promise.allSettled(Array.from({ length: workers }, worker));
      const failed = ends.find((end): end is PromiseRejectedResult => end.status === "rejected");
      if (failed) throw failed.reason;
    } finally {
      job.progress.stop();
      // Ends the generator (and with it the cursor) when the run stops early.
      if (!exhausted) await rows.return?.();
    }
  } finally {
    await stream.close();
  }
  const summary = tally.finish({
    scanned,
    selected: selected - handler.deselected,
    alreadyDone,
    interrupted: stopped() && !exhausted,
    dryRun: job.dryRun,
    elapsedMs: performance.now() - started,
  });
  return { summary, fatal: handler.fatal };
}
