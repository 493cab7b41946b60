// One entry's way through a replay, shared by the indexed (engine.ts) and the streamed
// (stream.ts) loops: loaded → selected again on the record → paced → delivered → checkpointed,
// every outcome counted. A bad entry is logged with its location and counted, never fatal; only a
// failure that would fail every entry alike (the XMPP server refusing us) is returned as fatal.
import { ReplayError, XmppAuthError } from "../errors.js";
import type { ReplayJob } from "./job.js";
import { recordSelected } from "./selection.js";
import { failureReason, type Tally } from "./summary.js";
import type { Loaded, ReplayOutcome, SourceEntry, Target } from "./types.js";

export type LoadResult = { ok: true; value: Loaded } | { ok: false; error: unknown };

/** Loads the entry: on the target's render worker (loaded and rendered there) where it can, else here. */
export function settle(entry: SourceEntry, target: Target): Promise<LoadResult> {
  return (target.prerender?.load(entry) ?? entry.load()).then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error }));
}

export interface EntryHandler {
  handle(entry: SourceEntry, loaded: LoadResult): Promise<void>;
  /** Records deselected by what only the parsed message tells (peer, type, exact time). */
  readonly deselected: number;
  /** Set once a failure says nothing can succeed. */
  readonly fatal: Error | undefined;
}

export function createEntryHandler(job: ReplayJob, tally: Tally): EntryHandler {
  let deselected = 0;
  let fatal: Error | undefined;
  const markDone = async (entry: SourceEntry) => {
    if (!job.dryRun) await job.checkpoint?.done(entry.key);
  };
  return {
    get deselected() {
      return deselected;
    },
    get fatal() {
      return fatal;
    },
    async handle(entry, loaded) {
      try {
        if (!loaded.ok) throw loaded.error;
        if (loaded.value.kind === "skip") {
          tally.skipped(loaded.value.reason);
          await markDone(entry);
          return;
        }
        const value = loaded.value;
        if (!recordSelected(job.selection, value.kind === "record" ? value.record : value.facts)) {
          deselected += 1;
          return;
        }
        await job.pacer.wait(job.signal);
        let delivery: ReplayOutcome;
        if (value.kind === "record") delivery = await job.target.deliver(value.record, entry, { messageIdDomain: value.messageIdDomain });
        else if (job.target.prerender) delivery = await job.target.prerender.deliver(value, entry);
        else throw new Error("a rendered entry for a target that does not prerender");
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
        job.logger.warn({ path: entry.location, code: (err as { code?: string }).code, reason: (err as Error).message }, "failed");
      } finally {
        job.progress.update(tally.done);
      }
    },
  };
}
