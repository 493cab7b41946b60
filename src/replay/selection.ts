// --user, --peer, --since, --until, --type, --folder: validated once at the edge (a ConfigError
// names the flag), then applied twice: cheaply to the index (what the source knows without reading
// the message), and exactly to the parsed record.
import type { ArchiveRecord } from "../capture/index.js";
import { ConfigError } from "../errors.js";
import { bare, parseJid } from "../jid.js";
import type { SourceEntry } from "./types.js";

export interface Selection {
  readonly user: string | undefined;
  readonly peer: string | undefined;
  readonly since: Date | undefined;
  readonly until: Date | undefined;
  readonly types: ReadonlySet<string> | undefined;
  readonly folders: ReadonlySet<string> | undefined;
}

export interface RawSelection {
  readonly user?: string | undefined;
  readonly peer?: string | undefined;
  readonly since?: string | undefined;
  readonly until?: string | undefined;
  readonly type?: string | undefined;
  readonly folder?: string | undefined;
}

const TYPES = ["chat", "normal"];

export function parseSelection(raw: RawSelection): Selection {
  return {
    user: raw.user === undefined ? undefined : bareJid("user", raw.user),
    peer: raw.peer === undefined ? undefined : bareJid("peer", raw.peer),
    since: raw.since === undefined ? undefined : time("since", raw.since),
    until: raw.until === undefined ? undefined : time("until", raw.until),
    types: raw.type === undefined ? undefined : list("type", raw.type, (t) => TYPES.includes(t) || fail("type", `must be chat or normal (or both, comma-separated), got '${t}'`)),
    folders: raw.folder === undefined ? undefined : list("folder", raw.folder, (f) => f.length > 0),
  };
}

/** What can be decided from the index alone; undefined facts pass (the record check decides). */
export function entrySelected(sel: Selection, entry: SourceEntry): boolean {
  if (sel.folders && !sel.folders.has(entry.folder)) return false;
  if (sel.user && entry.owner && bare(entry.owner) !== sel.user) return false;
  if (entry.time && !inRange(sel, entry.time)) return false;
  return true;
}

export function recordSelected(sel: Selection, record: Pick<ArchiveRecord, "owner" | "from" | "to" | "type" | "time">): boolean {
  const owner = bare(record.owner);
  if (sel.user && owner !== sel.user) return false;
  if (sel.peer) {
    // The other party: the sender, or the recipient of what the owner sent (a MAM archive).
    const peer = bare(record.from) === owner ? bare(record.to) : bare(record.from);
    if (peer !== sel.peer) return false;
  }
  if (sel.types && !sel.types.has(record.type)) return false;
  return inRange(sel, record.time);
}

function inRange(sel: Selection, time: Date): boolean {
  if (sel.since && time < sel.since) return false;
  if (sel.until && time >= sel.until) return false;
  return true;
}

function bareJid(key: string, value: string): string {
  const jid = parseJid(value.trim());
  if (!jid || jid.resource) fail(key, `must be a bare JID such as alice@example.org, got '${value}'`);
  return bare(jid!);
}

/** XEP-0082 DateTime or a date (taken as midnight UTC): 2026-01-02 or 2026-01-02T03:04:05Z. */
function time(key: string, value: string): Date {
  const text = value.trim();
  const ms = /^\d{4}-\d{2}-\d{2}$/.test(text) ? Date.parse(`${text}T00:00:00Z`) : /^\d{4}-\d{2}-\d{2}T/.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(ms)) fail(key, `must be a date (2026-01-31) or a UTC date and time (2026-01-31T12:00:00Z), got '${value}'`);
  return new Date(ms);
}

function list(key: string, value: string, valid: (item: string) => boolean): Set<string> {
  const items = value.split(",").map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) fail(key, "must not be empty");
  for (const item of items) if (!valid(item)) fail(key, `invalid value '${item}'`);
  return new Set(items);
}

function fail(key: string, message: string): never {
  throw new ConfigError(key, message);
}
