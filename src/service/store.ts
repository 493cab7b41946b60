// Storing what capture decided: a record becomes a mail in its folder with its flags, and a
// marker becomes a flag change on the original. The message index ties the two together (and
// keeps a room message that the owner already has from being stored twice).
//
// Over LMTP (--deliver lmtp://…) the same mail goes to the LMTP server instead, its folder as the
// recipient detail (src/lmtp/recipient.ts). LMTP cannot set flags, and the Maildirs are not ours
// to read: markers are not applied, and the message index knows only what this process delivered.
import { readdir } from "node:fs/promises";
import path from "node:path";
import type { ArchiveRecord, MarkRecord } from "../capture/index.js";
import type { RunConfig } from "../config/index.js";
import { StorageError } from "../errors.js";
import { bare } from "../jid.js";
import type { Logger } from "../log/index.js";
import { lmtpRecipient, type LmtpClient } from "../lmtp/index.js";
import { guessRelatedId, messageIdOf, renderMail } from "../mail/index.js";
import {
  addFlags, createKeywordMap, createMessageIndex, encodeMutf7, idKey,
  type FlagResult, type IndexedMessage, type MaildirResolver, type MaildirWriter,
} from "../maildir/index.js";

/**
 * Keys the message index keeps: two per archived chat message, measured at about 435 bytes of heap
 * per key, so about 21 MB at most. Markers come seconds to hours after their message, long before
 * 25,000 newer messages have pushed it out.
 */
const INDEX_MAX_ENTRIES = 50_000;
/**
 * Newest files per folder read on an owner's first miss after a restart (header blocks only):
 * measured at 0.2–0.3 s per 2,000 files with a warm page cache.
 */
const INDEX_SCAN_PER_FOLDER = 2_000;

type MailboxOwnerLike = Parameters<MaildirResolver>[0];

/** The location part of an index entry for mail delivered over LMTP. */
const NOT_A_FILE: Omit<IndexedMessage, "messageId"> = { folderDir: "", base: "", name: "" };

export interface StoreOutcome {
  readonly status: "stored" | "duplicate";
  readonly messageId: string;
  readonly folder: string;
  readonly bytes: number;
  /** Over LMTP: the server's 250 reply (it names the session, which Dovecot's log shows too). */
  readonly response?: string;
}

export interface StoreOptions {
  /** Maildir: runs with the final path, before the rename (DeliverOptions.beforeRename). */
  readonly beforeRename?: (finalPath: string) => Promise<void>;
  /** LMTP: runs with the recipient, before the mail is sent. */
  readonly beforeSend?: (recipient: string) => void;
  /** When the stanza arrived (ms since the epoch): orders UIDs (DeliverOptions.arrivedAt). */
  readonly arrivedAt?: number;
}

/** "not-applied": over LMTP, flags of stored mail cannot be changed. */
export type MarkOutcome = FlagResult | "not-applied";

export interface Store {
  store(record: ArchiveRecord, options: StoreOptions): Promise<StoreOutcome>;
  mark(mark: MarkRecord): Promise<MarkOutcome>;
}

export interface StoreDeps {
  readonly config: RunConfig;
  readonly logger: Logger;
  readonly writer: MaildirWriter;
  /** Undefined over LMTP without --maildir. */
  readonly resolveMaildir: MaildirResolver | undefined;
  /** Set with --deliver lmtp: mail goes there instead of into Maildir files. */
  readonly lmtp?: LmtpClient | undefined;
}

export function createStore(deps: StoreDeps): Store {
  const { config, logger, writer, lmtp } = deps;
  const resolveMaildir = (owner: MailboxOwnerLike): string => {
    if (!deps.resolveMaildir) throw new Error("no --maildir to resolve");
    return deps.resolveMaildir(owner);
  };
  const chat = config.chat;
  const chatOn = !!chat && (chat.history || chat.groupchat);
  const keywordMap = writer.keywords ?? createKeywordMap({ fileMode: 0o600 });
  const index = createMessageIndex({ maxEntries: INDEX_MAX_ENTRIES, scanPerFolder: INDEX_SCAN_PER_FOLDER });
  /** Room messages being stored, by owner and Message-ID: a second copy waits for the first. */
  const storing = new Map<string, Promise<StoreOutcome>>();

  /** INBOX and the chats folder tree: where chats, and so the originals of markers, can be. */
  async function chatFolderDirs(maildir: string): Promise<string[]> {
    const prefix = `.${encodeMutf7(chat?.folder ?? "Chats")}`;
    const names = await readdir(maildir).catch(() => [] as string[]);
    return [maildir, ...names.filter((n) => n === prefix || n.startsWith(`${prefix}.`)).map((n) => path.join(maildir, n))];
  }

  /** Over LMTP there is nothing of ours to scan: the index holds what this process delivered. */
  const scanDirs = (maildir: string | undefined) => () => (maildir === undefined ? Promise.resolve([]) : chatFolderDirs(maildir));

  async function related(record: ArchiveRecord, maildir: string | undefined): Promise<string | undefined> {
    const target = record.chat.replaces ?? record.chat.retracts;
    if (!target) return undefined;
    const sender = bare(record.from);
    const keys = [idKey(sender, target), guessRelatedId(record, target, config.domain)];
    return (await index.find(bare(record.owner), keys, scanDirs(maildir)))?.messageId;
  }

  async function write(record: ArchiveRecord, options: StoreOptions): Promise<StoreOutcome> {
    const owner = bare(record.owner);
    const maildir = lmtp ? undefined : resolveMaildir(record.owner);
    // Over LMTP the address is checked before anything is rendered, as the Maildir path is.
    const recipient = lmtp ? lmtpRecipient(record.owner, record.placement.folder, lmtp.target) : undefined;
    const mail = await renderMail(record, {
      domain: config.domain,
      ...(chatOn ? { chat: { maxAttachmentBytes: chat!.maxAttachmentBytes }, related: await related(record, maildir) } : {}),
    });
    const folder = (recipient?.folder ?? record.placement.folder).join("/") || "INBOX";
    // A room sends its recent history to every occupant who joins (XEP-0045 §7.2.15): what the
    // owner already has keeps its Message-ID and is not stored again.
    if (record.type === "groupchat" && (await index.find(owner, [mail.messageId], scanDirs(maildir)))) {
      return { status: "duplicate", messageId: mail.messageId, folder, bytes: 0 };
    }
    if (lmtp && recipient) {
      if (recipient.folder.length < record.placement.folder.length) {
        logger.debug({ user: owner, folder: record.placement.folder.join("/"), used: folder }, "folder name is not ASCII; delivering over LMTP to its parent");
      }
      options.beforeSend?.(recipient.address);
      const response = await lmtp.deliver(recipient.address, mail.bytes);
      if (chatOn) {
        // No file of ours to point at: the entry serves corrections and room history, not markers.
        const keys = [mail.messageId, ...(record.ids.id ? [idKey(bare(record.from), record.ids.id)] : [])];
        index.remember(owner, keys, { ...NOT_A_FILE, messageId: mail.messageId });
      }
      return { status: "stored", messageId: mail.messageId, folder, bytes: mail.bytes.length, response };
    }
    if (maildir === undefined) throw new Error("no Maildir to deliver to");
    const delivered = await writer.deliver(maildir, mail.bytes, {
      folder: record.placement.folder,
      seen: record.placement.seen,
      keywords: record.placement.keywords,
      ...options,
    });
    if (delivered.droppedKeywords.length > 0) {
      logger.warn({ folder: delivered.folderDir, keywords: delivered.droppedKeywords }, "keywords not set: the folder already uses all 26 keyword letters");
    }
    if (chatOn) {
      const name = path.relative(delivered.folderDir, delivered.path);
      const keys = [mail.messageId, ...(record.ids.id ? [idKey(bare(record.from), record.ids.id)] : [])];
      index.remember(owner, keys, { folderDir: delivered.folderDir, base: delivered.base, name, messageId: mail.messageId });
    }
    return { status: "stored", messageId: mail.messageId, folder, bytes: delivered.size };
  }

  return {
    async store(record, options) {
      if (record.type !== "groupchat") return write(record, options);
      const key = `${bare(record.owner)}\0${record.ids.stanzaId?.id ?? ""}\0${record.ids.originId ?? record.ids.id ?? record.xml}`;
      const running = storing.get(key);
      if (running) return running.then((r) => ({ ...r, status: "duplicate" as const }));
      const work = write(record, options);
      storing.set(key, work);
      try {
        return await work;
      } finally {
        storing.delete(key);
      }
    },
    async mark(mark) {
      if (lmtp) return "not-applied";
      const owner = bare(mark.owner);
      const maildir = resolveMaildir(mark.owner);
      const peer = bare(mark.peer);
      // XEP-0184 names the original's id attribute; XEP-0333 its id or origin-id (they are the
      // same for clients that set origin-id). Try every Message-ID such a message may have.
      const keys = [
        idKey(peer, mark.id),
        messageIdOf({ sender: peer, ids: { originId: mark.id, stanzaId: undefined, id: undefined } }, config.domain),
        messageIdOf({ sender: peer, ids: { originId: undefined, stanzaId: undefined, id: mark.id } }, config.domain),
      ];
      const found = await index.find(owner, keys, () => chatFolderDirs(maildir));
      if (!found) return "missing";
      try {
        const { result, name } = await addFlags(keywordMap, found.folderDir, found.base, { seen: mark.seen, keywords: mark.keywords }, found.name);
        if (name) found.name = name;
        return result;
      } catch (err) {
        throw new StorageError(found.folderDir, err as NodeJS.ErrnoException);
      }
    },
  };
}
