// Import source: ejabberd's Mnesia archive (mod_mam, table archive_msg) and offline messages
// (mod_offline, table offline_msg), as `ejabberdctl xmpp_maildir_export` writes them
// (server/ejabberd/mod_xmpp_maildir_export.erl): one JSON object per line, a header with the
// counts, offline rows, archive rows, and an end line. ejabberd reads its own tables, in one
// transaction; nothing here parses Mnesia's files. Lines are read one at a time from a pipe or a
// saved file, so memory stays flat however big the archive is.
import type { Readable } from "node:stream";
import { ConfigError } from "../../errors.js";
import { bare, type Jid } from "../../jid.js";
import type { Domains } from "../owner.js";
import type { Problem, SourceEntry, Stream, StreamSource } from "../types.js";
import { archivedEntry, ownerStanzaIds, waitingOffline } from "./sql/archived.js";

const FORMAT = "xmpp-maildir-export";
const FORMAT_VERSION = 1;
const FIX = "run `ejabberdctl --no-timeout xmpp_maildir_export` (as the ejabberd user, with mod_xmpp_maildir_export in ejabberd.yml's modules; README, \"Replay and import\") and pipe its output here, or give the file it was saved to";

export interface MnesiaExportOptions {
  /** What to name in messages: `ejabberd+mnesia:-` or the file. */
  readonly label: string;
  /** The export: standard input or a saved file (opened by the caller, read once). */
  readonly input: () => Readable;
  readonly domains: Domains;
}

type Json = Record<string, unknown>;

export function createEjabberdMnesiaSource(options: MnesiaExportOptions): StreamSource {
  const { label, domains } = options;
  return {
    description: label,
    async open(): Promise<Stream> {
      const input = options.input();
      const lines = readLines(input)[Symbol.asyncIterator]();
      const close = async () => {
        await lines.return?.(undefined);
        input.destroy();
      };
      try {
        const first = await lines.next().catch((err: Error) => {
          throw new ConfigError("source", `${label}: cannot read the export (${err.message}); ${FIX}`);
        });
        const header = first.done ? undefined : parse(first.value);
        if (header && typeof header.error === "string") throw new ConfigError("source", `${label}: ejabberd says: ${header.error}`);
        if (!header || header.format !== FORMAT) {
          const seen = first.done ? "nothing" : `'${first.value.slice(0, 200)}'`;
          throw new ConfigError("source", `${label}: not an export from mod_xmpp_maildir_export (read ${seen}); ${FIX}`);
        }
        if (header.version !== FORMAT_VERSION) throw new ConfigError("source", `${label}: export format version ${String(header.version)}, this importer reads ${FORMAT_VERSION}; install the module from the same xmpp-maildir release`);
        const total = count(header.offline) + count(header.archive);
        return { total, entries: rows(lines, label, domains), close };
      } catch (err) {
        await close().catch(() => undefined);
        throw err;
      }
    },
  };
}

async function* rows(lines: AsyncIterator<string>, label: string, domains: Domains): AsyncGenerator<SourceEntry | Problem> {
  // Offline rows come first in the export; their messages' archive rows are skipped (as the SQL source).
  const offline = new Set<string>();
  let lineNo = 1;
  let tiebreak = 0;
  for (;;) {
    const next = await lines.next();
    if (next.done) throw new ConfigError("source", `${label}: the export ended without its end line after line ${lineNo} (ejabberdctl stopped or timed out: use --no-timeout); what was read is imported, run the import again to finish`);
    lineNo += 1;
    const row = parse(next.value);
    if (!row) {
      yield { problem: true, location: `${label} line ${lineNo}`, reason: "not a JSON object" };
      continue;
    }
    if (typeof row.error === "string") throw new ConfigError("source", `${label}: ejabberd stopped the export: ${row.error}`);
    if (row.end === true) return;
    const owner = ownerOf(row);
    const micros = typeof row.ts === "number" ? row.ts : NaN;
    const where = owner ? `${bare(owner)}` : "?";
    if (row.table === "offline") {
      const location = `${label} offline_msg ${where} ts ${String(row.ts)} (line ${lineNo})`;
      if (!owner || typeof row.xml !== "string" || !Number.isFinite(micros)) {
        yield { problem: true, location, reason: "no user, server, timestamp or valid UTF-8 stanza" };
        continue;
      }
      for (const id of ownerStanzaIds(row.xml, bare(owner))) offline.add(id);
      yield archivedEntry({
        key: `ejabberd-mnesia/offline/${bare(owner)}/${micros}`,
        location,
        owner,
        // mod_offline's timestamp; a XEP-0203 delay in the stanza wins over it.
        time: new Date(micros / 1000),
        xml: row.xml,
        store: "offline",
        archiveId: undefined,
        tiebreak: tiebreak++,
      }, domains);
    } else if (row.table === "archive") {
      const location = `${label} archive_msg ${where} id ${String(row.id)} (line ${lineNo})`;
      if (row.kind === "groupchat") {
        yield roomArchive(`ejabberd-mnesia/room/${where}/${String(row.id)}`, location);
        continue;
      }
      if (!owner || typeof row.xml !== "string" || typeof row.id !== "string" || !Number.isFinite(micros)) {
        yield { problem: true, location, reason: "no user, server, id, timestamp or valid UTF-8 stanza" };
        continue;
      }
      const key = `ejabberd-mnesia/archive/${bare(owner)}/${row.id}`;
      if (offline.has(`${bare(owner)}\0${row.id}`)) {
        yield waitingOffline({ key, location, owner });
        continue;
      }
      yield archivedEntry({
        key,
        location,
        owner,
        time: new Date(micros / 1000),
        xml: row.xml,
        store: "archive",
        // mod_mam: the archive id (the stanza-id the owner's copy carries live).
        archiveId: row.id,
        tiebreak: tiebreak++,
      }, domains);
    } else {
      yield { problem: true, location: `${label} line ${lineNo}`, reason: `unknown table '${String(row.table)}'` };
    }
  }
}

function ownerOf(row: Json): Jid | undefined {
  if (typeof row.user !== "string" || !row.user || typeof row.server !== "string" || !row.server) return undefined;
  return { local: row.user.toLowerCase(), domain: row.server.toLowerCase(), resource: "" };
}

function count(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) ? value : 0;
}

function parse(line: string): Json | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Json) : undefined;
  } catch {
    return undefined;
  }
}

/** A room's own archive (kind groupchat, the room's JID as owner): no user's mailbox to file it in. */
function roomArchive(key: string, location: string): SourceEntry {
  return {
    key,
    time: undefined,
    tiebreak: 0,
    folder: "INBOX",
    owner: undefined,
    location,
    load: async () => ({ kind: "skip", reason: "a room's own archive (kind groupchat): no user's mailbox to file it in" }),
  };
}

/** Lines of a byte stream, pulled one chunk at a time (the stream's own backpressure). */
async function* readLines(input: Readable): AsyncGenerator<string> {
  input.setEncoding("utf8");
  let rest = "";
  for await (const chunk of input as AsyncIterable<string>) {
    let from = 0;
    rest += chunk;
    for (let end = rest.indexOf("\n", from); end >= 0; end = rest.indexOf("\n", from)) {
      const line = rest.slice(from, end);
      from = end + 1;
      if (line.trim()) yield line;
    }
    rest = rest.slice(from);
  }
  if (rest.trim()) yield rest;
}
