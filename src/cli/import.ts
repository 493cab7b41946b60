// `xmpp-maildir import SOURCE`: history that already exists (Prosody's internal file storage, or
// NDJSON from `replay --format ndjson`) into the Maildirs, through the same MIME and Maildir code
// as live capture, idempotently.
import { stat } from "node:fs/promises";
import type { Command } from "commander";
import { loadReplayConfig, needed } from "../config/index.js";
import { ConfigError } from "../errors.js";
import { createMaildirTarget, createNdjsonSource, createProsodySource, PROSODY_STORES, type ProsodyStore } from "../replay/index.js";
import { addCommonOptions, configFlags, runJob, selectionOf, type Opts } from "./replay-common.js";

const RUN_KEYS = ["domain", "maildir", "user-domain", "log-level"] as const;

export function registerImport(program: Command): void {
  const cmd = program
    .command("import")
    .argument("<source>", "Prosody's data directory (data_path, e.g. /var/lib/prosody), or an NDJSON file from replay --format ndjson")
    .description("import existing history (Prosody offline store and MAM archive, or NDJSON) into the Maildirs")
    .option("--store <stores>", `Prosody stores to read: ${PROSODY_STORES.join(", ")} (default both)`);
  addCommonOptions(cmd, RUN_KEYS);
  cmd.action(async (source: string, opts: Opts) => {
    const selection = selectionOf(opts);
    const config = loadReplayConfig(
      { flags: configFlags(opts, RUN_KEYS), env: process.env, configFile: opts.config as string | undefined },
      { domain: true, maildir: true, secret: false },
    );
    const domains = { componentDomain: config.domain, userDomain: config.userDomain };
    let isDirectory: boolean;
    try {
      isDirectory = (await stat(source)).isDirectory();
    } catch (err) {
      throw new ConfigError("source", `cannot read ${source}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (!isDirectory && opts.store !== undefined) throw new ConfigError("store", "only applies to a Prosody data directory");
    await runJob({
      verb: "import",
      source: isDirectory
        ? createProsodySource({ dataPath: source, stores: stores(opts.store as string | undefined), domains })
        : createNdjsonSource({ file: source, domains }),
      selection,
      opts,
      logLevel: config.logLevel,
      makeTarget: () => createMaildirTarget({ template: needed(config.maildir, "maildir"), domain: needed(config.domain, "domain"), dryRun: opts.dryRun === true, key: "maildir" }),
    });
  });
}

function stores(value: string | undefined): ProsodyStore[] {
  if (value === undefined) return [...PROSODY_STORES];
  const list = value.split(",").map((s) => s.trim()).filter(Boolean);
  for (const s of list) {
    if (!(PROSODY_STORES as readonly string[]).includes(s)) throw new ConfigError("store", `must be ${PROSODY_STORES.join(" and/or ")}, got '${s}'`);
  }
  if (list.length === 0) throw new ConfigError("store", "must not be empty");
  return list as ProsodyStore[];
}
