// Import source: ejabberd's SQL database (SQLite or PostgreSQL), in its default schema (one host,
// no host column) or its "new" multi-host schema (a server_host column; new_sql_schema: true).
// Tables, as in ejabberd's sql/lite.sql, lite.new.sql, pg.sql, pg.new.sql (23.01 and 24.x alike):
//   archive (mod_mam_sql): username, [server_host], timestamp (µs, also the MAM id), peer,
//     bare_peer, xml, txt, id, kind ('chat' for a user's archive, 'groupchat' for a room's), nick;
//   spool (mod_offline_sql): username, [server_host], xml, seq, created_at.
// A room's own archive (kind groupchat, username = the room's JID) belongs to no user's mailbox
// and is skipped, counted.
import { ConfigError } from "../../../errors.js";
import type { Domains } from "../../owner.js";
import type { Problem, SourceEntry, Stream, StreamSource } from "../../types.js";
import { bare } from "../../../jid.js";
import { archivedEntry, ownerStanzaIds, waitingOffline } from "./archived.js";
import { openSnapshot, type Dsn, type Row, type Snapshot } from "./db.js";

export const EJABBERD_STORES = ["offline", "archive"] as const;
export type EjabberdStore = (typeof EJABBERD_STORES)[number];

const HINT = "give the database ejabberd uses (sql_database in ejabberd.yml), with mod_mam/mod_offline on db_type sql";

export interface EjabberdSqlOptions {
  readonly dsn: Dsn;
  readonly stores: readonly EjabberdStore[];
  readonly domains: Domains;
}

export function createEjabberdSqlSource(options: EjabberdSqlOptions): StreamSource {
  const { dsn, domains } = options;
  return {
    description: `ejabberd-sql:${dsn.label}:${options.stores.join(",")}`,
    async open(): Promise<Stream> {
      const snap = await openSnapshot(dsn, "ejabberd");
      try {
        const plans: Array<{ store: EjabberdStore; multi: boolean }> = [];
        let total = 0;
        for (const store of options.stores) {
          const table = store === "archive" ? "archive" : "spool";
          const multi = (await snap.columns(table, HINT)).has("server_host");
          if (!multi && !domains.userDomain) {
            throw new ConfigError("user-domain", `ejabberd's default SQL schema keeps no host name in '${table}': give --user-domain (the ejabberd host this database belongs to)`);
          }
          total += await snap.count(`SELECT COUNT(*) FROM "${table}"`);
          plans.push({ store, multi });
        }
        return { total, entries: rows(snap, plans, domains), close: () => snap.close() };
      } catch (err) {
        await snap.close().catch(() => undefined);
        throw err;
      }
    },
  };
}

async function* rows(snap: Snapshot, plans: ReadonlyArray<{ store: EjabberdStore; multi: boolean }>, domains: Domains): AsyncGenerator<SourceEntry | Problem> {
  const label = snap.dsn.label;
  let tiebreak = 0;
  // Offline rows come first (EJABBERD_STORES' order); their messages' archive rows are skipped.
  const offline = new Set<string>();
  for (const { store, multi } of plans) {
    const host = multi ? `"server_host"` : "NULL AS server_host";
    if (store === "archive") {
      const sql = `SELECT "id", "username", ${host}, "timestamp", "kind", "xml" FROM "archive" ORDER BY "timestamp", "id"`;
      for await (const row of snap.rows(sql)) {
        const location = `${label} archive id ${String(row.id)}`;
        const micros = Number(row.timestamp);
        if (row.kind === "groupchat") {
          yield skipped(row, location, "a room's own archive (kind groupchat): no user's mailbox to file it in");
          continue;
        }
        const owner = ownerOf(row, domains);
        if (!owner || typeof row.xml !== "string" || !Number.isFinite(micros)) {
          yield { problem: true, location, reason: "no username, xml or timestamp" };
          continue;
        }
        const key = `ejabberd/archive/${owner.domain}/${String(row.id)}`;
        if (offline.has(`${bare(owner)}\0${String(row.timestamp)}`)) {
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
          // mod_mam: the archive id is the timestamp, as a decimal string.
          archiveId: String(row.timestamp),
          tiebreak: tiebreak++,
        }, domains);
      }
    } else {
      const sql = `SELECT "seq", "username", ${host}, "created_at", "xml" FROM "spool" ORDER BY "seq"`;
      for await (const row of snap.rows(sql)) {
        const location = `${label} spool seq ${String(row.seq)}`;
        const owner = ownerOf(row, domains);
        if (!owner || typeof row.xml !== "string") {
          yield { problem: true, location, reason: "no username or xml" };
          continue;
        }
        for (const id of ownerStanzaIds(row.xml, bare(owner))) offline.add(id);
        yield archivedEntry({
          key: `ejabberd/spool/${owner.domain}/${String(row.seq)}`,
          location,
          owner,
          // mod_offline stamps each stored message with a XEP-0203 delay, which wins over this.
          time: createdAt(row.created_at),
          xml: row.xml,
          store: "offline",
          archiveId: undefined,
          tiebreak: tiebreak++,
        }, domains);
      }
    }
  }
}

function ownerOf(row: Row, domains: Domains): { local: string; domain: string; resource: string } | undefined {
  const host = typeof row.server_host === "string" && row.server_host ? row.server_host : domains.userDomain;
  if (typeof row.username !== "string" || !row.username || !host) return undefined;
  return { local: row.username.toLowerCase(), domain: host.toLowerCase(), resource: "" };
}

/** SQLite gives "YYYY-MM-DD HH:MM:SS" (UTC, CURRENT_TIMESTAMP); the pg driver a Date. */
function createdAt(value: unknown): Date {
  if (value instanceof Date) return value;
  const ms = typeof value === "string" ? Date.parse(`${value.replace(" ", "T")}Z`) : NaN;
  return Number.isNaN(ms) ? new Date(0) : new Date(ms);
}

function skipped(row: Row, location: string, reason: string): SourceEntry {
  return {
    key: `ejabberd/archive/room/${String(row.id)}`,
    time: undefined,
    tiebreak: 0,
    folder: "INBOX",
    owner: undefined,
    location,
    load: async () => ({ kind: "skip", reason }),
  };
}
