// What `replay` and `import` share on the command line: selection, control and feedback flags,
// the connection/config flags from RUN_OPTIONS, and running a job with signals, progress and a
// summary. The only place these commands print or set the exit code.
import { Command, Option } from "commander";
import { RUN_OPTIONS } from "../config/index.js";
import { ConfigError } from "../errors.js";
import { createLogger, type Logger } from "../log/index.js";
import {
  createBarProgress, createLogProgress, createPacer, failedCount, formatSummary, openCheckpoint, parseSelection, runReplay,
  type Selection, type Source, type StreamSource, type Target,
} from "../replay/index.js";

/** Often enough to show a long job is alive, rarely enough not to flood a journal. */
const DEFAULT_PROGRESS_INTERVAL_S = 10;
/** Like the archiver's fsync'd delivery: enough writes in flight to hide fsync latency. */
const DEFAULT_CONCURRENCY = 16;
/** Exit status of a run cut short by a signal (128 + SIGINT), as shells report it. */
const EXIT_INTERRUPTED = 130;

export type Opts = Record<string, string | boolean | undefined>;

export function addCommonOptions(cmd: Command, runKeys: readonly string[]): Command {
  cmd
    .option("--user <jid>", "only this user's archive (bare JID)")
    .option("--peer <jid>", "only messages with this correspondent (bare JID)")
    .option("--since <date>", "only messages at or after this time (2026-01-31 or 2026-01-31T12:00:00Z)")
    .option("--until <date>", "only messages before this time")
    .option("--type <types>", "only these message types: chat, normal (comma-separated)")
    .option("--folder <names>", "only these Maildir++ folders, e.g. INBOX (comma-separated)")
    .option("--dry-run", "print what would be done, change nothing")
    .option("--rate <n>", "at most N messages per second")
    .option("--checkpoint <file>", "record progress in FILE and resume from it after an interruption")
    .option("--concurrency <n>", `Maildir writes in flight (default ${DEFAULT_CONCURRENCY}; into a Maildir at least 512, fsynced and renamed in batches of 256)`)
    .option("--progress-interval <seconds>", `seconds between progress log lines when not on a terminal (default ${DEFAULT_PROGRESS_INTERVAL_S})`)
    .option("--config <file>", "TOML config file, as for run (also XMPP_MAILDIR_CONFIG)");
  for (const spec of RUN_OPTIONS) {
    if (runKeys.includes(spec.name)) cmd.addOption(new Option(`--${spec.name} <${spec.valueName}>`, spec.description));
  }
  return cmd;
}

export function configFlags(opts: Opts, runKeys: readonly string[]): Record<string, string | undefined> {
  const flags: Record<string, string | undefined> = {};
  for (const name of runKeys) flags[name] = opts[camel(name)] as string | undefined;
  return flags;
}

export function selectionOf(opts: Opts): Selection {
  const s = (k: string) => opts[k] as string | undefined;
  return parseSelection({ user: s("user"), peer: s("peer"), since: s("since"), until: s("until"), type: s("type"), folder: s("folder") });
}

export function positive(opts: Opts, key: string, flag: string, fallback: number | undefined): number | undefined {
  const raw = opts[key];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (typeof raw !== "string" || !/^\d+(\.\d+)?$/.test(raw.trim()) || !(n > 0)) {
    throw new ConfigError(flag, `must be a positive number, got ${JSON.stringify(raw)} (from --${flag})`);
  }
  return n;
}

export interface JobSpec {
  readonly verb: "replay" | "import";
  readonly source: Source | StreamSource;
  readonly makeTarget: (logger: Logger) => Target;
  readonly selection: Selection;
  readonly opts: Opts;
  readonly logLevel: string;
}

export async function runJob(spec: JobSpec): Promise<void> {
  const { opts } = spec;
  const dryRun = opts.dryRun === true;
  const rate = positive(opts, "rate", "rate", undefined);
  const concurrency = Math.floor(positive(opts, "concurrency", "concurrency", DEFAULT_CONCURRENCY)!);
  const intervalS = positive(opts, "progressInterval", "progress-interval", DEFAULT_PROGRESS_INTERVAL_S)!;
  // stdout carries the data (NDJSON, XML, the dry-run plan); logs and feedback go to stderr.
  const logger = createLogger({ level: spec.logLevel, destination: process.stderr });
  const target = spec.makeTarget(logger);
  const checkpointFile = opts.checkpoint as string | undefined;
  const checkpoint = checkpointFile ? await openCheckpoint(checkpointFile, `${spec.source.description} → ${target.description}`) : undefined;
  const progress = process.stderr.isTTY ? createBarProgress(process.stderr, spec.verb) : createLogProgress({ logger, intervalMs: intervalS * 1000 });

  const aborter = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (aborter.signal.aborted) process.exit(EXIT_INTERRUPTED);
    logger.warn({ signal }, "stopping after the messages in flight; the checkpoint keeps what is done");
    aborter.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  let closed = false;
  try {
    const result = await runReplay({
      source: spec.source,
      target,
      selection: spec.selection,
      checkpoint,
      progress,
      pacer: createPacer(rate),
      concurrency,
      logger,
      dryRun,
      signal: aborter.signal,
      onPlan: (entry, where) => process.stdout.write(`would ${spec.verb} ${entry.location} → ${where}\n`),
    });
    closed = true;
    await target.close();
    for (const line of formatSummary(result.summary, spec.verb)) console.error(line);
    if (result.fatal) console.error(`xmpp-maildir: ${result.fatal.message}`);
    process.exitCode = result.summary.interrupted && !result.fatal ? EXIT_INTERRUPTED : result.fatal || failedCount(result.summary) > 0 ? 1 : 0;
  } finally {
    await checkpoint?.close();
    if (!closed) await target.close().catch(() => undefined);
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
    logger.flush();
  }
}

function camel(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}
