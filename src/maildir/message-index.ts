// Finding an archived message again, for receipts and markers (which flag the original), for
// corrections and retractions (which refer to its Message-ID), and for group chat (a room message
// the owner already has is not stored twice). Keys are the Message-ID and "id <sender> <id>" (the
// stanza's id attribute, which XEP-0184 receipts name).
//
// Cost, stated: an in-memory LRU of at most `maxEntries` keys (two per archived message, about
// 435 bytes of heap each, measured), filled as messages are stored. After a restart it is empty, so the first miss
// for an owner reads the header blocks of the newest `scanPerFolder` files of each of that owner's
// folders that can hold chats (INBOX and the chats folder tree), once per owner per process; later
// misses cost nothing. A marker for a message older than that, or evicted, is not applied.
import { readdir } from "node:fs/promises";
import path from "node:path";
import { parseStanzaIdHeader, peekHeaders } from "../mail/index.js";
import { readHead } from "./files.js";

export interface IndexedMessage {
  readonly folderDir: string;
  /** The unique file name, without info. */
  readonly base: string;
  /** Where it was last seen, relative to folderDir ("new/…" or "cur/…:2,…"). */
  name: string;
  readonly messageId: string;
  /** The IMAP folder it was delivered to, when this process delivered it ([] is INBOX). */
  readonly folder?: readonly string[];
}

export interface MessageIndex {
  remember(owner: string, keys: readonly string[], message: IndexedMessage): void;
  /** The first key that is known; on a first miss for this owner, scans `folderDirs` once. */
  find(owner: string, keys: readonly string[], folderDirs: () => Promise<string[]>): Promise<IndexedMessage | undefined>;
  readonly size: number;
}

export function idKey(sender: string, id: string): string {
  return `id ${sender} ${id}`;
}

/** The key of a message by the XEP-0359 stanza-id an entity (a room, the user's server) gave it. */
export function stanzaIdKey(by: string, id: string): string {
  return `stanza-id ${by} ${id}`;
}

/** Only the header block is read; chat headers are far smaller than this. */
const HEADER_READ_BYTES = 16 * 1024;

export function createMessageIndex(options: { maxEntries: number; scanPerFolder: number }): MessageIndex {
  const entries = new Map<string, IndexedMessage>();
  const scanned = new Set<string>();

  function put(key: string, message: IndexedMessage): void {
    entries.delete(key);
    entries.set(key, message);
    while (entries.size > options.maxEntries) {
      const oldest = entries.keys().next().value;
      if (oldest === undefined) break;
      entries.delete(oldest);
    }
  }

  function get(owner: string, keys: readonly string[]): IndexedMessage | undefined {
    for (const key of keys) {
      const hit = entries.get(`${owner}\0${key}`);
      if (hit) {
        put(`${owner}\0${key}`, hit);
        return hit;
      }
    }
    return undefined;
  }

  async function scan(owner: string, folderDir: string): Promise<void> {
    const files: string[] = [];
    for (const sub of ["new", "cur"]) {
      const names = await readdir(path.join(folderDir, sub)).catch(() => [] as string[]);
      for (const n of names) if (!n.startsWith(".")) files.push(`${sub}/${n}`);
    }
    // Names start with the delivery time in seconds (name.ts), so the newest sort last.
    const newest = files.sort((a, b) => a.slice(4).localeCompare(b.slice(4))).slice(-options.scanPerFolder);
    for (const name of newest) {
      // Renamed or expunged meanwhile: nothing to index.
      const headers = peekHeaders(await readHead(path.join(folderDir, name), HEADER_READ_BYTES).catch(() => Buffer.alloc(0)));
      const messageId = headers?.get("message-id");
      if (!messageId) continue;
      const message: IndexedMessage = { folderDir, base: name.slice(4).split(":")[0]!, name, messageId };
      put(`${owner}\0${messageId}`, message);
      const id = headers?.get("x-xmpp-id");
      const sender = headers?.get("jabber-id");
      if (id && sender) put(`${owner}\0${idKey(sender, id)}`, message);
      const stanzaId = parseStanzaIdHeader(headers?.get("x-xmpp-stanza-id"));
      if (stanzaId) put(`${owner}\0${stanzaIdKey(stanzaId.by, stanzaId.id)}`, message);
    }
  }

  return {
    remember(owner, keys, message) {
      for (const key of keys) put(`${owner}\0${key}`, message);
    },
    async find(owner, keys, folderDirs) {
      const hit = get(owner, keys);
      if (hit || scanned.has(owner)) return hit;
      scanned.add(owner);
      for (const dir of await folderDirs()) await scan(owner, dir);
      return get(owner, keys);
    },
    get size() {
      return entries.size;
    },
  };
}

