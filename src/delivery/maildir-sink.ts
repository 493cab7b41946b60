// Maildir delivery: we write the files ourselves (src/maildir/deliver.ts), apply markers as flags,
// and keep the dedupe journal's Maildir order: P with the final path before the rename, C after.
import path from "node:path";
import { StorageError } from "../errors.js";
import { bare } from "../jid.js";
import type { Logger } from "../log/index.js";
import { messageIdOf } from "../mail/index.js";
import { addFlags, createKeywordMap, idKey, type MaildirResolver, type MaildirWriter } from "../maildir/index.js";
import { createArchiveIndex, type MailSettings } from "./archive-index.js";
import { REACTION_WITHOUT_ORIGINAL, type Sink } from "./sink.js";

export interface MaildirSinkOptions {
  readonly resolveMaildir: MaildirResolver;
  readonly writer: MaildirWriter;
  readonly logger: Logger;
  readonly mail: MailSettings;
}

export function createMaildirSink(options: MaildirSinkOptions): Sink {
  const { resolveMaildir, writer, logger } = options;
  const domain = options.mail.domain;
  const keywordMap = writer.keywords ?? createKeywordMap({ fileMode: 0o600 });
  const index = createArchiveIndex(options.mail, logger);

  return {
    store: (record, { arrivedAt, dedupe }) =>
      index.once(record, async () => {
        const maildir = resolveMaildir(record.owner);
        const placement = await index.placement(record, maildir);
        if (!placement) return REACTION_WITHOUT_ORIGINAL;
        const mail = await index.render(record, maildir);
        const folder = placement.folder.join("/") || "INBOX";
        // A room sends its recent history to every occupant who joins (XEP-0045 §7.2.15): what the
        // owner already has keeps its Message-ID and is not stored again.
        if (await index.isRoomDuplicate(record, mail.messageId, maildir)) return { status: "duplicate", messageId: mail.messageId, folder, bytes: 0 };
        const delivered = await writer.deliver(maildir, mail.bytes, {
          folder: placement.folder,
          seen: placement.seen,
          keywords: placement.keywords,
          arrivedAt,
          // Durable before the rename (src/dedupe/journal.ts, steps 2 and 3).
          ...(dedupe ? { beforeRename: (finalPath: string) => dedupe.journal.prepare(dedupe.key, finalPath) } : {}),
        });
        dedupe?.journal.commit(dedupe.key);
        if (delivered.droppedKeywords.length > 0) {
          logger.warn({ folder: delivered.folderDir, keywords: delivered.droppedKeywords }, "keywords not set: the folder already uses all 26 keyword letters");
        }
        const name = path.relative(delivered.folderDir, delivered.path);
        index.remember(record, mail.messageId, { folderDir: delivered.folderDir, base: delivered.base, name });
        return { status: "stored", messageId: mail.messageId, folder, bytes: delivered.size };
      }),
    async mark(mark) {
      const owner = bare(mark.owner);
      const maildir = resolveMaildir(mark.owner);
      const peer = bare(mark.peer);
      // XEP-0184 names the original's id attribute; XEP-0333 its id or origin-id (they are the
      // same for clients that set origin-id). Try every Message-ID such a message may have.
      const keys = [
        idKey(peer, mark.id),
        messageIdOf({ sender: peer, ids: { originId: mark.id, stanzaId: undefined, id: undefined } }, domain),
        messageIdOf({ sender: peer, ids: { originId: undefined, stanzaId: undefined, id: mark.id } }, domain),
      ];
      const found = await index.find(owner, keys, maildir);
      if (!found) return "missing";
      try {
        const { result, name } = await addFlags(keywordMap, found.folderDir, found.base, { seen: mark.seen, keywords: mark.keywords }, found.name);
        if (name) found.name = name;
        return result;
      } catch (err) {
        throw new StorageError(found.folderDir, err as NodeJS.ErrnoException);
      }
    },
    close: () => Promise.resolve(),
  };
}
