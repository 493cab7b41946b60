// Log lines for failures: one warn line per refusal; for the disk, one error line when an outage
// starts (reason and path) and one info line when it ends, instead of one line per message
// while the disk is full. Over LMTP, a 4xx or a lost connection is such an outage too (with the
// server's reply as the reason and the LMTP target as the path), and a 5xx a refusal.
import type { Element } from "@xmpp/xml";
import { LmtpError, RefusedError, StorageError } from "../errors.js";
import type { Logger } from "../log/index.js";
import { noMetrics, type Metrics } from "../metrics/index.js";
import { errorSpecFor } from "../xmpp/stanza-error.js";

export interface FailureReporter {
  report(stanza: Element, err: unknown): void;
  /**
   * A message was stored: if the disk had been failing, say it recovered. `startedAt` is when its
   * write began (performance.now()): a write that was already under way when a failure came in
   * says nothing about the disk now.
   */
  recovered(startedAt: number): void;
}

/**
 * A disk at the edge of full flaps: a failed write frees its tmp/ file and the next small one
 * fits. Only call it recovered after this many stores in a row, or after a quiet spell. Only
 * stores that started after the last failure count: writes run concurrently, and the slow ones
 * (fsync'd, with the journal) that began before the disk filled still finish after the first
 * failures did.
 */
const RECOVERY_SUCCESSES = 10;
const RECOVERY_QUIET_MS = 30_000;

/** Counted as `unexpected` under the error's class; anything odder than an Error is one bucket. */
function errorClass(err: unknown): string {
  return err instanceof Error && /^[A-Za-z]{1,40}$/.test(err.name) ? err.name : "unknown";
}

export function createFailureReporter(logger: Logger, metrics: Pick<Metrics, "refused" | "failed"> = noMetrics): FailureReporter {
  /** Times from performance.now(): monotonic, and comparable with the writes' start times. */
  let outage: { reason: string; since: number; failures: number; lastFailure: number; successes: number } | undefined;
  return {
    report(stanza, err) {
      const fields = { from: stanza.attrs.from, to: stanza.attrs.to, id: stanza.attrs.id };
      const failed = outageOf(err);
      if (failed) {
        // For LMTP the reason is the reply ("452 4.2.2") or the connection error: a handful of values.
        metrics.failed({ kind: "storage", reason: failed.reason });
        if (!outage) {
          outage = { reason: failed.reason, since: performance.now(), failures: 1, lastFailure: performance.now(), successes: 0 };
          logger.error({ ...fields, ...failed }, "cannot store message; answering wait until storage recovers");
        } else {
          outage.failures += 1;
          outage.lastFailure = performance.now();
          outage.successes = 0;
          logger.debug({ ...fields, ...failed }, "cannot store message");
        }
      } else if (err instanceof LmtpError) {
        metrics.refused(errorSpecFor(err).condition);
        const who = err.responseCode !== undefined ? "the mail server refused the message" : "cannot deliver over LMTP";
        logger.warn({ ...fields, code: err.code, path: err.target, reason: err.reason, response: err.response }, `${who}; not archived (the server module drops the copy; the message itself still reaches the user)`);
      } else if (err instanceof RefusedError) {
        metrics.refused(err.stanzaError.condition);
        logger.warn({ ...fields, code: err.code, condition: err.stanzaError.condition, reason: err.message }, "refused");
      } else {
        metrics.failed({ kind: "unexpected", reason: errorClass(err) });
        logger.error({ ...fields, err }, "unexpected error while archiving");
      }
    },
    recovered(startedAt) {
      if (!outage || startedAt <= outage.lastFailure) return;
      outage.successes += 1;
      if (outage.successes < RECOVERY_SUCCESSES && performance.now() - outage.lastFailure < RECOVERY_QUIET_MS) return;
      logger.info({ reason: outage.reason, failures: outage.failures, seconds: Math.round((performance.now() - outage.since) / 1000) }, "storage recovered");
      outage = undefined;
    },
  };
}

/** A failure that says "storage is not available now": a transient disk or LMTP error. */
function outageOf(err: unknown): { code: string; path: string; reason: string; response?: string } | undefined {
  if (err instanceof StorageError) return { code: err.code, path: err.path, reason: err.reason };
  if (err instanceof LmtpError && err.transient) return { code: err.code, path: err.target, reason: err.reason, response: err.response };
  return undefined;
}
