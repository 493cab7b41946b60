// Import source: Prosody's default internal file storage (mod_storage_internal + util/datamanager),
// <data_path>/<host>/<store>/<user>.list, with host and user %-encoded. Two archive stores:
// "offline" (mod_offline: what a user received while offline) and "archive" (mod_mam: both
// directions). Each item is a preserialized stanza plus key, when and with (see
// mod_storage_internal.lua, archive:append); the stanza is rebuilt as mod_storage_internal's find()
// does, without the storage-only stamp attributes.
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import xml, { type Element } from "@xmpp/xml";
import { ConfigError } from "../../errors.js";
import { bare, type Jid } from "../../jid.js";
import { NS_SID } from "../../namespaces.js";
import type { Domains } from "../owner.js";
import { loadStanza } from "../records.js";
import type { Scan, Source, SourceEntry } from "../types.js";
import { parseListFile, type LuaTable, type LuaValue } from "./lua-literal.js";

export const PROSODY_STORES = ["offline", "archive"] as const;
export type ProsodyStore = (typeof PROSODY_STORES)[number];

/** Prosody keeps xml:lang as "<namespace>\1lang" (util/stanza.lua). */
const XML_NS = "http://www.w3.org/XML/1998/namespace";
/** XEP-0359 Unique and Stable Stanza IDs. */

export interface ProsodySourceOptions {
  /** Prosody's data_path, e.g. /var/lib/prosody. */
  readonly dataPath: string;
  readonly stores: readonly ProsodyStore[];
  readonly domains: Domains;
}

export function createProsodySource(options: ProsodySourceOptions): Source {
  const dataPath = path.resolve(options.dataPath);
  return {
    description: `prosody:${dataPath}:${options.stores.join(",")}`,
    async scan(): Promise<Scan> {
      const entries: SourceEntry[] = [];
      const problems: Array<{ location: string; reason: string }> = [];
      let hosts: string[];
      try {
        hosts = (await readdir(dataPath, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
      } catch (err) {
        throw new ConfigError("source", `cannot read Prosody's data directory ${dataPath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      for (const hostDir of hosts) {
        const host = decode(hostDir);
        for (const store of options.stores) {
          const storeDir = path.join(dataPath, hostDir, store);
          let files: string[];
          try {
            files = (await readdir(storeDir)).filter((f) => f.endsWith(".list")).sort();
          } catch (err) {
            // A host without this store is normal; one we may not read is not.
            if ((err as NodeJS.ErrnoException).code !== "ENOENT") problems.push({ location: storeDir, reason: `cannot read (${(err as NodeJS.ErrnoException).code})` });
            continue;
          }
          for (const file of files) {
            const user = decode(file.slice(0, -".list".length));
            const location = path.join(storeDir, file);
            let items: LuaTable[];
            try {
              items = parseListFile(await readFile(location));
            } catch (err) {
              problems.push({ location, reason: `not a Prosody list file (${(err as Error).message})` });
              continue;
            }
            const owner: Jid = { local: user.toLowerCase(), domain: host.toLowerCase(), resource: "" };
            items.forEach((item, i) => entries.push(entryFor({ item, index: i, owner, store, location, domains: options.domains })));
          }
        }
      }
      return { entries, problems };
    },
  };
}

function entryFor(args: { item: LuaTable; index: number; owner: Jid; store: ProsodyStore; location: string; domains: Domains }): SourceEntry {
  const { item, owner, store } = args;
  const key = str(item.fields.get("key")) ?? String(args.index + 1);
  const attr = item.fields.get("attr");
  const when = item.fields.get("when");
  const stamp = isTable(attr) ? str(attr.fields.get("stamp")) : undefined;
  const time = typeof when === "number" && Number.isFinite(when) ? new Date(when * 1000) : stamp && !Number.isNaN(Date.parse(stamp)) ? new Date(stamp) : undefined;
  const location = `${args.location} item ${args.index + 1} (key ${key})`;
  return {
    key: `prosody/${owner.domain}/${store}/${owner.local}/${key}`,
    time,
    tiebreak: args.index,
    folder: "INBOX",
    owner,
    location,
    async load() {
      const message = toElement(item, true);
      // mod_mam stores what a user sent as the client sent it; a stanza without from/to is
      // from/to the user's own account (RFC 6120 §8.1.1.1, §8.1.2.1).
      if (store === "archive") {
        message.attrs.from ??= bare(owner);
        message.attrs.to ??= bare(owner);
        addArchiveId(message, owner, key);
      }
      return loadStanza(message, {
        location,
        owner,
        reason: store === "offline" ? "offline" : "import",
        fallbackTime: time ?? new Date(0),
        domains: args.domains,
      });
    },
  };
}

/**
 * mod_mam gives each message a user receives a XEP-0359 <stanza-id by=user id=archive key/>; the
 * live stanza (and so mod_offline's copy, and our live capture) carries it, the archived item does
 * not. Adding it back gives the item the same Message-ID as the offline copy of the same message,
 * so importing both stores writes it once.
 */
function addArchiveId(message: Element, owner: Jid, key: string): void {
  const ownerBare = bare(owner);
  const to = message.attrs.to?.split("/")[0]?.toLowerCase();
  if (to !== ownerBare) return;
  if (message.getChildren("stanza-id", NS_SID).some((el) => el.attrs.by === ownerBare)) return;
  message.append(xml("stanza-id", { xmlns: NS_SID, by: ownerBare, id: key }));
}

function toElement(table: LuaTable, top: boolean): Element {
  const name = str(table.fields.get("name"));
  if (!name) throw new Error("stored item has no element name");
  const attrs: Record<string, string> = {};
  const attr = table.fields.get("attr");
  if (isTable(attr)) {
    for (const [k, v] of attr.fields) {
      if (typeof k !== "string" || typeof v !== "string") continue;
      if (top && (k === "stamp" || k === "stamp_legacy")) continue;
      const sep = k.indexOf("\x01") !== -1 ? k.indexOf("\x01") : k.indexOf("|");
      if (sep === -1) attrs[k] = v;
      else if (k.slice(0, sep) === XML_NS) attrs[`xml:${k.slice(sep + 1)}`] = v;
    }
  }
  const children = table.array.map((c) => (typeof c === "string" ? c : isTable(c) ? toElement(c, false) : null));
  return xml(name, attrs, ...children);
}

function isTable(v: LuaValue | undefined): v is LuaTable {
  return typeof v === "object" && v !== null;
}

function str(v: LuaValue | undefined): string | undefined {
  return typeof v === "string" ? v : typeof v === "number" ? String(v) : undefined;
}

/** util/datamanager.lua encodes every non-alphanumeric byte as %xx. */
function decode(name: string): string {
  return Buffer.from(name.replace(/%([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), "latin1").toString("utf8");
}
