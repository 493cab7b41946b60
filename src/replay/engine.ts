// The replay loop, shared by `replay` and `import`: index the source, select, order by original
// time, skip what the checkpoint says is done, then load → select again → pace → deliver, counting
// every outcome. A bad entry is logged with its path and counted, never fatal; only a failure that
// would fail every entry alike (the XMPP server refusing us) stops the run.
import { ReplayError, XmppAuthError } from "../errors.js";
import type { Logger } from "../log/index.js";
import type { Checkpoint } from "./checkpoint.js";
import type { Pacer } from "./pacer.js";
import type { Progress } from "./progress.js";
import { entrySelected, recordSelected, type Selection } from "./selection.js";
import { createTally, failureReason, type Summary } from "./summary.js";
import type { Loaded, Source, SourceEntry, Target } from "./types.js";

/** Messages parsed ahead of the one being delivered: hides file reads and MIME parsing behind delivery. */
const PREFETCH = 32;

export interface ReplayJob {
  readonly source: Source;
  readonly target: Target;
  readonly selection: Selection;
  readonly checkpoint: Checkpoint | undefined;
  readonly progress: Progress;
  readonly pacer: Pacer;
  /** Deliveries in flight for unordered targets (Maildir); ordered targets always get one. */
  readonly concurrency: number;
  readonly logger: Logger;
  readonly dryRun: boolean;
  readonly signal?: AbortSignal | undefined;
  /** Dry run: told what would be done with each entry. */
  readonly onPlan?: ((entry: SourceEntry, what: string) => void) | undefined;
}

export interface ReplayResult {
  readonly summary: Summary;
  /** Set when the run stopped early because nothing could succeed (the server refused us). */
  readonly fatal: Error | undefined;
}

type LoadResult = { ok: true; value: Loaded } | { ok: false; error: unknown };

export async function runReplay(job: ReplayJob): Promise<ReplayResult> {
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
  let deselected = 0;
  let fatal: Error | undefined;

  const loads = new Map<number, Promise<LoadResult>>();
  let nextLoad = 0;
  const prefetch = (upTo: number) => {
    for (; nextLoad < Math.min(upTo, todo.length); nextLoad++) {
      loads.set(nextLoad, todo[nextLoad]!.load().then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error })));
    }
  };

  async function handle(index: number): Promise<void> {
    const entry = todo[index]!;
    prefetch(index + PREFETCH);
    const loaded = await loads.get(index)!;
    loads.delete(index);
    try {
      if (!loaded.ok) throw loaded.error;
      if (loaded.value.kind === "skip") {
        tally.skipped(loaded.value.reason);
        await markDone(entry);
        return;
      }
      const { record } = loaded.value;
      if (!recordSelected(job.selection, record)) {
        deselected += 1;
        return;
      }
      await job.pacer.wait(job.signal);
      const delivery = await target.deliver(record, entry);
      if (delivery.status === "replayed") {
        tally.replayed();
        if (job.dryRun) job.onPlan?.(entry, delivery.where);
      } else {
        tally.skipped(delivery.reason);
        if (job.dryRun) job.onPlan?.(entry, `skip (${delivery.reason})`);
      }
      await markDone(entry);
    } catch (err) {
      if (err instanceof XmppAuthError || (err instanceof ReplayError && err.condition === undefined)) fatal ??= err;
      tally.failed(failureReason(err));
      logger.warn({ path: entry.location, code: (err as { code?: string }).code, reason: (err as Error).message }, "failed");
    } finally {
      job.progress.update(tally.done);
    }
  }

  async function markDone(entry: SourceEntry): Promise<void> {
    if (!job.dryRun) await job.checkpoint?.done(entry.key);
  }

  job.progress.start(todo.length);
  let next = 0;
  const stopped = () => fatal !== undefined || job.signal?.aborted === true;
  const worker = async () => {
    while (next < todo.length && !stopped()) await handle(next++);
  };
  const workers = target.ordered ? 1 : Math.max(1, job.concurrency);
  try {
    await Promise.all(Array.from({ length: workers }, worker));
    // Let loads started ahead of an interruption settle, so nothing rejects unobserved.
    await Promise.allSettled(loads.values());
  } finally {
    job.progress.stop();
  }
  const summary = tally.finish({
    scanned: scan.entries.length + scan.problems.length,
    selected: selected.length - deselected + scan.problems.length,
    alreadyDone,
    interrupted: stopped() && next < todo.length,
    dryRun: job.dryRun,
    elapsedMs: performance.now() - started,
  });
  return { summary, fatal };
}
