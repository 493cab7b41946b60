// What both sinks share around the bytes they store: rendering a record (with the Message-ID of
// the message a correction or retraction refers to), the message index that ties a marker or a
// correction to its original, and room history that must not be stored twice (XEP-0045 §7.2.15).
import { readdir } from "node:fs/promises";
import path from "node:path";
import type { ArchiveRecord, ChatSettings, Placement } from "../capture/index.js";
import { bare } from "../jid.js";
import type { Logger } from "../log/index.js";
import { guessRelatedId, messageIdOf, renderMail, type RenderedMail } from "../mail/index.js";
import { createMessageIndex, decodeMutf7, encodeMutf7, idKey, stanzaIdKey, type IndexedMessage } from "../maildir/index.js";
import { replyKeys } from "./reply-keys.js";
import type { StoreOutcome } from "./sink.js";

/**
 * Keys the message index keeps: two per archived chat message (three with a XEP-0359 stanza-id),
 * measured at about 435 bytes of heap per key, so about 21 MB at most. Markers and replies come
 * seconds to hours after their message, long before 17,000 newer messages have pushed it out.
 */
const INDEX_MAX_ENTRIES = 50_000;
/**
 * Newest files per folder read on an owner's first miss after a restart (header blocks only):
 * measured at 0.2–0.3 s per 2,000 files with a warm page cache.
 */
const INDEX_SCAN_PER_FOLDER = 2_000;

export interface MailSettings {
  /** The component's domain: the right-hand side of Message-IDs. */
  readonly domain: string;
  readonly chat: ChatSettings;
}

export interface ArchiveIndex {
  /** The record as mail; `maildir` is where to look for a related original (undefined over LMTP). */
  render(record: ArchiveRecord, maildir: string | undefined): Promise<RenderedMail>;
  /** A room message the owner already has (same Message-ID): not stored again. */
  isRoomDuplicate(record: ArchiveRecord, messageId: string, maildir: string | undefined): Promise<boolean>;
  /** After a store: where the mail is, for markers, corrections and room history. */
  remember(record: ArchiveRecord, messageId: string, location: Omit<IndexedMessage, "messageId">): void;
  /** The stored message with one of these keys, scanning `maildir`'s chat folders on a miss. */
  find(owner: string, keys: readonly string[], maildir: string): Promise<IndexedMessage | undefined>;
  /**
   * Where the record goes: where capture placed it, except a reaction (XEP-0444), which goes with
   * its original, into that mail's folder and seen (RFC 9078 §2); undefined when the archive does
   * not have the original (then the reaction is not stored: docs/chat-history.md).
   */
  placement(record: ArchiveRecord, maildir: string | undefined): Promise<Placement | undefined>;
  /** Room messages being stored: a second copy of the same one waits for the first and is a duplicate. */
  once(record: ArchiveRecord, work: () => Promise<StoreOutcome>): Promise<StoreOutcome>;
}

export function createArchiveIndex(settings: MailSettings, logger?: Logger): ArchiveIndex {
  const { chat, domain } = settings;
  const chatOn = chat.history || chat.groupchat;
  const index = createMessageIndex({ maxEntries: INDEX_MAX_ENTRIES, scanPerFolder: INDEX_SCAN_PER_FOLDER });
  /** Room messages being stored, by owner and Message-ID: a second copy waits for the first. */
  const storing = new Map<string, Promise<StoreOutcome>>();
  /** Every store under way, by owner (bare JID): what a reaction waits for. */
  const inFlight = new Map<string, Set<Promise<unknown>>>();

  /** INBOX and the chats folder tree: where chats, and so the originals of markers, can be. */
  async function chatFolderDirs(maildir: string): Promise<string[]> {
    const prefix = `.${encodeMutf7(chat.folder)}`;
    const names = await readdir(maildir).catch(() => [] as string[]);
    return [maildir, ...names.filter((n) => n === prefix || n.startsWith(`${prefix}.`)).map((n) => path.join(maildir, n))];
  }

  /** Over LMTP there is nothing of ours to scan: the index holds what this process delivered. */
  const scanDirs = (maildir: string | undefined) => () => (maildir === undefined ? Promise.resolve([]) : chatFolderDirs(maildir));

  async function related(record: ArchiveRecord, maildir: string | undefined): Promise<string | undefined> {
    if (record.chat.reaction) return (await findReacted(record, maildir))?.messageId;
    const target = record.chat.replaces ?? record.chat.retracts;
    if (!target) return undefined;
    const sender = bare(record.from);
    // XEP-0425: a moderation comes from the room and names the stanza-id the room gave the message.
    const first = record.chat.moderation ? stanzaIdKey(sender, target) : idKey(sender, target);
    const keys = [first, guessRelatedId(record, target, domain)];
    return (await index.find(bare(record.owner), keys, scanDirs(maildir)))?.messageId;
  }

  /**
   * XEP-0444 §3: a reaction names the id the original was sent with (in a room, the room's
   * stanza-id, §4); unlike a correction, it may be to a message the other party sent.
   */
  async function findReacted(record: ArchiveRecord, maildir: string | undefined): Promise<IndexedMessage | undefined> {
    const id = record.chat.reaction?.id;
    if (!id || !chatOn) return undefined;
    const senders = record.type === "groupchat" ? [bare(record.from)] : [bare(record.from), bare(record.to)];
    const keys = senders.flatMap((sender) => [
      idKey(sender, id),
      messageIdOf({ sender, ids: { originId: id, stanzaId: undefined, id: undefined } }, domain),
      messageIdOf({ sender, ids: { originId: undefined, stanzaId: undefined, id } }, domain),
    ]);
    return index.find(bare(record.owner), keys, scanDirs(maildir));
  }

  /** XEP-0461: the Message-ID of the message a reply answers, only when the archive has it. */
  async function replied(record: ArchiveRecord, maildir: string | undefined): Promise<string | undefined> {
    const reply = record.chat.reply;
    if (!reply) return undefined;
    const found = await index.find(bare(record.owner), replyKeys(record, reply, domain), scanDirs(maildir));
    if (!found) logger?.debug({ user: bare(record.owner), reply: reply.id }, "reply to a message the archive does not have; stored without In-Reply-To");
    return found?.messageId;
  }

  return {
    async placement(record, maildir) {
      if (!record.chat.reaction) return record.placement;
      const found = await findReacted(record, maildir);
      if (!found) return undefined;
      // Over LMTP the entry has no directory but remembers the folder it was delivered to.
      const folder = found.folder ?? (maildir ? folderOf(maildir, found.folderDir) : []);
      return { ...record.placement, folder, seen: true };
    },
    async render(record, maildir) {
      return renderMail(record, {
        domain,
        ...(chatOn
          ? { chat: { maxAttachmentBytes: chat.maxAttachmentBytes }, related: await related(record, maildir), replyTo: await replied(record, maildir) }
          : {}),
      });
    },
    async isRoomDuplicate(record, messageId, maildir) {
      return record.type === "groupchat" && (await index.find(bare(record.owner), [messageId], scanDirs(maildir))) !== undefined;
    },
    remember(record, messageId, location) {
      if (!chatOn) return;
      // XEP-0444 §4: in a room, reactions name the room's stanza-id; XEP-0461 replies name any of
      // the message's stanza-ids (./reply-keys.ts).
      const roomId = record.type === "groupchat" && record.ids.stanzaId?.by === bare(record.from) ? [idKey(bare(record.from), record.ids.stanzaId.id)] : [];
      const keys = [
        messageId,
        ...(record.ids.id ? [idKey(bare(record.from), record.ids.id)] : []),
        ...roomId,
        ...(record.ids.stanzaIds ?? (record.ids.stanzaId ? [record.ids.stanzaId] : [])).map((s) => stanzaIdKey(s.by, s.id)),
      ];
      index.remember(bare(record.owner), keys, { ...location, messageId, folder: record.placement.folder });
    },
    find: (owner, keys, maildir) => index.find(owner, keys, () => chatFolderDirs(maildir)),
    once(record, work) {
      // A reaction waits for the owner's stores already under way: its original is often one of
      // them (the copies arrive in order, milliseconds apart, and a store waits for fsync).
      const owner = bare(record.owner);
      const earlier = record.chat.reaction ? [...(inFlight.get(owner) ?? [])] : [];
      const started = onceInOrder(record, earlier.length > 0 ? () => Promise.allSettled(earlier).then(work) : work);
      const set = inFlight.get(owner) ?? new Set<Promise<unknown>>();
      inFlight.set(owner, set);
      set.add(started);
      const forget = () => {
        set.delete(started);
        if (set.size === 0 && inFlight.get(owner) === set) inFlight.delete(owner);
      };
      started.then(forget, forget);
      return started;
    },
  };

  /** Room messages being stored: a second copy of the same one waits for the first and is a duplicate. */
  async function onceInOrder(record: ArchiveRecord, work: () => Promise<StoreOutcome>): Promise<StoreOutcome> {
    if (record.type !== "groupchat") return work();
    const key = `${bare(record.owner)}\0${record.ids.stanzaId?.id ?? ""}\0${record.ids.originId ?? record.ids.id ?? record.xml}`;
    const running = storing.get(key);
    if (running) return running.then((r) => ({ ...r, status: "duplicate" as const }));
    const pending = work();
    storing.set(key, pending);
    try {
      return await pending;
    } finally {
      storing.delete(key);
    }
  }
}

/** A folder's IMAP path from its Maildir++ directory (".Chats.lounge" → ["Chats", "lounge"]). */
function folderOf(maildir: string, folderDir: string): string[] {
  const name = path.relative(maildir, folderDir);
  return name === "" ? [] : name.slice(1).split(".").map(decodeMutf7);
}
