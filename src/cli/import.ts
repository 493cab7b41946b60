// `xmpp-maildir import SOURCE`: history that already exists into the Maildirs, through the same
// capture, MIME and Maildir code as live archiving, idempotently. Sources: Prosody's internal file
// storage, Prosody's or ejabberd's SQL database (read-only, one snapshot), or NDJSON from
// `replay --format ndjson`.
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import type { Command } from "commander";
import { loadReplayConfig, needed } from "../config/index.js";
import { ConfigError } from "../errors.js";
import {
  createEjabberdMnesiaSource, createEjabberdSqlSource, createMaildirTarget, createNdjsonSource, createProsodySource, createProsodySqlSource, parseDsn, PROSODY_STORES,
  type Domains, type ProsodyStore, type Source, type StreamSource,
} from "../replay/index.js";
import { addCommonOptions, configFlags, runJob, selectionOf, type Opts } from "./replay-common.js";

const RUN_KEYS = ["domain", "maildir", "user-domain", "log-level"] as const;

const SOURCES = `SOURCE is one of:
  /var/lib/prosody                      Prosody's data_path (storage "internal", the default)
  prosody+sqlite:/var/lib/prosody/prosody.sqlite
  prosody+postgresql://user:password@host:5432/prosody
                                        Prosody's SQL storage (storage = "sql"): table prosodyarchive
  ejabberd+sqlite:/var/lib/ejabberd/ejabberd.db
  ejabberd+postgresql://user:password@host:5432/ejabberd
                                        ejabberd's SQL database: tables archive (mod_mam) and spool
                                        (mod_offline), default or new (server_host) schema; the
                                        default schema needs --user-domain (or --domain)
  ejabberd+mnesia:-                     ejabberd's Mnesia archive (mod_mam) and offline messages
                                        (mod_offline), as exported by ejabberd itself: with
                                        mod_xmpp_maildir_export loaded, as the ejabberd user,
                                          ejabberdctl --no-timeout xmpp_maildir_export |
                                            xmpp-maildir import ejabberd+mnesia:- ...
                                        (one transaction: a consistent snapshot; archiving waits
                                        until it ends); ejabberd+mnesia:FILE reads a saved export
  FILE.ndjson                           what replay --format ndjson wrote

Databases are only read: SQLite is opened read-only, PostgreSQL in one READ ONLY, REPEATABLE READ
transaction, so the whole import sees one consistent snapshot while the server keeps running.
Rows are streamed, never loaded whole.

Folders are those of live chat history: one-to-one chats (both directions) into Chats, marked
\\Seen; room messages in a user's archive into Chats/<room>; offline (undelivered) messages and
received type=normal messages into INBOX, unseen. Importing twice, or importing what was also
archived live, writes each message once (the Message-ID is the same).`;

export function registerImport(program: Command): void {
  const cmd = program
    .command("import")
    .argument("<source>", "where the history is (see below)")
    .description("import existing history (Prosody's file or SQL storage, ejabberd's SQL database or Mnesia export, or NDJSON) into the Maildirs")
    .option("--store <stores>", `stores to read: ${PROSODY_STORES.join(", ")} (default both): mod_offline's undelivered messages, mod_mam's archive`)
    .addHelpText("after", `\n${SOURCES}`);
  addCommonOptions(cmd, RUN_KEYS);
  cmd.action(async (source: string, opts: Opts) => {
    const selection = selectionOf(opts);
    const config = loadReplayConfig(
      { flags: configFlags(opts, RUN_KEYS), env: process.env, configFile: opts.config as string | undefined },
      { domain: true, maildir: true, secret: false },
    );
    const domains: Domains = { componentDomain: config.domain, userDomain: config.userDomain };
    await runJob({
      verb: "import",
      source: await sourceOf(source, opts.store as string | undefined, opts.folder as string | undefined, domains),
      selection,
      opts,
      logLevel: config.logLevel,
      makeTarget: () => createMaildirTarget({ template: needed(config.maildir, "maildir"), domain: needed(config.domain, "domain"), dryRun: opts.dryRun === true, key: "maildir" }),
    });
  });
}

async function sourceOf(source: string, store: string | undefined, folder: string | undefined, domains: Domains): Promise<Source | StreamSource> {
  const server = /^(ejabberd|prosody)\+(.*)$/s.exec(source);
  const mnesia = /^ejabberd\+mnesia:(.*)$/s.exec(source);
  if (mnesia) {
    if (folder !== undefined) throw new ConfigError("folder", "only applies to Maildir folders; filter an export with --user, --peer, --type, --since, --until");
    if (store !== undefined) throw new ConfigError("store", "does not apply to ejabberd+mnesia: (the export holds both tables); filter with --user, --peer, --type, --since, --until");
    const file = mnesia[1] ?? "";
    if (!file) throw new ConfigError("source", "ejabberd+mnesia: needs - (standard input) or the file an export was saved to");
    if (file !== "-") await stat(file).catch((err: NodeJS.ErrnoException) => {
      throw new ConfigError("source", `${source}: cannot read ${file}: ${err.code ?? err.message}; save it with ejabberdctl --no-timeout xmpp_maildir_export > FILE, or pipe it to ejabberd+mnesia:-`);
    });
    return createEjabberdMnesiaSource({ label: source, input: () => (file === "-" ? process.stdin : createReadStream(file)), domains });
  }
  if (server) {
    // A database row's folder is known only once it is parsed (capture places it); --folder
    // filters a Maildir source's folders and would select nothing here.
    if (folder !== undefined) throw new ConfigError("folder", "only applies to Maildir folders; filter a database with --user, --peer, --type, --since, --until");
    const dsn = parseDsn(server[2]!, "source");
    const list = stores(store);
    return server[1] === "ejabberd" ? createEjabberdSqlSource({ dsn, stores: list, domains }) : createProsodySqlSource({ dsn, stores: list, domains });
  }
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(source)).isDirectory();
  } catch (err) {
    throw new ConfigError("source", `cannot read ${source}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (a Prosody data directory, an NDJSON file, or prosody+/ejabberd+ and a database; see --help)`);
  }
  if (!isDirectory && store !== undefined) throw new ConfigError("store", "only applies to a server's store (a Prosody data directory or a database)");
  return isDirectory ? createProsodySource({ dataPath: source, stores: stores(store), domains }) : createNdjsonSource({ file: source, domains });
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
