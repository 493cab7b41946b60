// Counting outcomes, and the summary a person reads at the end: replayed, skipped and failed, each
// with its reasons. Failures are grouped by kind (the paths are in the log lines, one per failure).
import { BadAddressError, ConfigError, MalformedError, ReplayError, StorageError, XmppAuthError } from "../errors.js";

export interface Summary {
  readonly scanned: number;
  readonly selected: number;
  readonly alreadyDone: number;
  readonly replayed: number;
  readonly skipped: ReadonlyMap<string, number>;
  readonly failed: ReadonlyMap<string, number>;
  readonly interrupted: boolean;
  readonly dryRun: boolean;
  readonly elapsedMs: number;
}

export interface Tally {
  replayed(): void;
  skipped(reason: string): void;
  failed(reason: string): void;
  readonly done: number;
  finish(facts: { scanned: number; selected: number; alreadyDone: number; interrupted: boolean; dryRun: boolean; elapsedMs: number }): Summary;
}

export function createTally(): Tally {
  let replayed = 0;
  let done = 0;
  const skipped = new Map<string, number>();
  const failed = new Map<string, number>();
  const bump = (map: Map<string, number>, reason: string) => map.set(reason, (map.get(reason) ?? 0) + 1);
  return {
    replayed: () => {
      replayed += 1;
      done += 1;
    },
    skipped: (reason) => {
      bump(skipped, reason);
      done += 1;
    },
    failed: (reason) => {
      bump(failed, reason);
      done += 1;
    },
    get done() {
      return done;
    },
    finish: (facts) => ({ ...facts, replayed, skipped, failed }),
  };
}

/** The reason a failure is counted under. */
export function failureReason(err: unknown): string {
  if (err instanceof MalformedError) return "malformed (not readable as an archived message)";
  if (err instanceof BadAddressError) return "address cannot name a Maildir";
  if (err instanceof StorageError) return `storage error (${err.reason})`;
  if (err instanceof ReplayError) return err.condition ? `bounced by the server (${err.condition})` : "XMPP connection failed";
  if (err instanceof XmppAuthError || err instanceof ConfigError) return err.code;
  return "unexpected error";
}

const sum = (map: ReadonlyMap<string, number>) => [...map.values()].reduce((a, b) => a + b, 0);

export function failedCount(summary: Summary): number {
  return sum(summary.failed);
}

export function formatSummary(summary: Summary, verb = "replay"): string[] {
  const skipped = sum(summary.skipped);
  const failed = sum(summary.failed);
  const seconds = (summary.elapsedMs / 1000).toFixed(1);
  const state = summary.interrupted ? "interrupted" : summary.dryRun ? "dry run finished" : "finished";
  const done = summary.dryRun ? `${summary.replayed} would be ${verb === "import" ? "imported" : "replayed"}` : `${summary.replayed} ${verb === "import" ? "imported" : "replayed"}`;
  const lines = [
    `${verb} ${state} in ${seconds} s: ${done}, ${skipped} skipped, ${failed} failed ` +
      `(${summary.selected} selected of ${summary.scanned} found${summary.alreadyDone ? `, ${summary.alreadyDone} already done per checkpoint` : ""})`,
  ];
  const detail = (label: string, map: ReadonlyMap<string, number>) =>
    [...map.entries()].sort((a, b) => b[1] - a[1]).map(([reason, n]) => `  ${label} ${n}: ${reason}`);
  lines.push(...detail("skipped", summary.skipped), ...detail("failed", summary.failed));
  return lines;
}
