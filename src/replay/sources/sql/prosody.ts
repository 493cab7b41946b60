// Import source: Prosody's SQL storage (storage = "sql", mod_storage_sql; SQLite or PostgreSQL),
// the same in 0.12 and 13.0: table prosodyarchive (sort_id, host, user, store, key, when, with,
// type, value), where store "archive" is mod_mam's and "offline" mod_offline's (an archive store
// since 0.11), type "xml" a serialised stanza, "when" seconds since the epoch. Keys match the
// file-store source's (sources/prosody.ts), so a checkpoint means the same whichever was used.
import type { Domains } from "../../owner.js";
import type { Problem, SourceEntry, Stream, StreamSource } from "../../types.js";
import { bare } from "../../../jid.js";
import { archivedEntry, ownerStanzaIds, waitingOffline } from "./archived.js";
import { openSnapshot, type Dsn, type Snapshot } from "./db.js";
import type { ProsodyStore } from "../prosody.js";

const HINT = "give the database in Prosody's sql = { ... } setting, with storage = \"sql\" for archive and offline";

export interface ProsodySqlOptions {
  readonly dsn: Dsn;
  readonly stores: readonly ProsodyStore[];
  readonly domains: Domains;
}

export function createProsodySqlSource(options: ProsodySqlOptions): StreamSource {
  const { dsn, domains } = options;
  // Store names are our own constants (PROSODY_STORES), never user text: safe inside the SQL.
  const where = `"store" IN (${options.stores.map((s) => `'${s}'`).join(", ")})`;
  return {
    description: `prosody-sql:${dsn.label}:${options.stores.join(",")}`,
    async open(): Promise<Stream> {
      const snap = await openSnapshot(dsn, "prosody");
      try {
        await snap.columns("prosodyarchive", HINT);
        const total = await snap.count(`SELECT COUNT(*) FROM "prosodyarchive" WHERE ${where}`);
        return { total, entries: rows(snap, where, domains), close: () => snap.close() };
      } catch (err) {
        await snap.close().catch(() => undefined);
        throw err;
      }
    },
  };
}

async function* rows(snap: Snapshot, where: string, domains: Domains): AsyncGenerator<SourceEntry | Problem> {
  // Offline rows first: a message still waiting offline is filed from there (INBOX, as live
  // capture does), and its archive row is skipped.
  const sql = `SELECT "sort_id", "host", "user", "store", "key", "when", "type", "value" FROM "prosodyarchive" WHERE ${where} ORDER BY CASE WHEN "store" = 'offline' THEN 0 ELSE 1 END, "when", "sort_id"`;
  const offline = new Set<string>();
  let tiebreak = 0;
  for await (const row of snap.rows(sql)) {
    const location = `${snap.dsn.label} prosodyarchive sort_id ${String(row.sort_id)}`;
    const { host, user, key, value } = row;
    const store = row.store === "offline" ? "offline" : "archive";
    const when = Number(row.when);
    if (typeof host !== "string" || typeof user !== "string" || typeof value !== "string" || !Number.isFinite(when)) {
      yield { problem: true, location, reason: "no host, user, when or value" };
      continue;
    }
    const owner = { local: user.toLowerCase(), domain: host.toLowerCase(), resource: "" };
    const itemKey = typeof key === "string" && key ? key : String(row.sort_id);
    const entryKey = `prosody/${owner.domain}/${store}/${owner.local}/${itemKey}`;
    if (row.type !== "xml") {
      yield { key: entryKey, time: undefined, tiebreak: 0, folder: "INBOX", owner, location, load: async () => ({ kind: "skip", reason: `not a stanza (type ${String(row.type)})` }) };
      continue;
    }
    if (store === "offline") for (const id of ownerStanzaIds(value, bare(owner))) offline.add(id);
    else if (offline.has(`${bare(owner)}\0${itemKey}`)) {
      yield waitingOffline({ key: entryKey, location, owner });
      continue;
    }
    yield archivedEntry({
      key: entryKey,
      location,
      owner,
      time: new Date(when * 1000),
      xml: value,
      store,
      // mod_mam's archive key is the stanza-id it gave the message (XEP-0359).
      archiveId: store === "archive" ? itemKey : undefined,
      tiebreak: tiebreak++,
    }, domains);
  }
}
