// LMTP delivery (--deliver lmtp://…): the same mail goes to the LMTP server, its folder as the
// recipient detail (./lmtp/recipient.ts). LMTP cannot set flags, and the Maildirs are not ours to
// read: markers are not applied, and the message index knows only what this process delivered.
// The dedupe journal's LMTP order: P with the recipient before sending, C (fsynced) on the 250.
import { LmtpError } from "../errors.js";
import { bare } from "../jid.js";
import type { Logger } from "../log/index.js";
import { createArchiveIndex, type MailSettings } from "./archive-index.js";
import { lmtpRecipient, type LmtpClient } from "./lmtp/index.js";
import { REACTION_WITHOUT_ORIGINAL, type Sink } from "./sink.js";

/** The location part of an index entry for mail delivered over LMTP: no file of ours to point at. */
const NOT_A_FILE = { folderDir: "", base: "", name: "" };

export interface LmtpSinkOptions {
  readonly client: LmtpClient;
  readonly logger: Logger;
  readonly mail: MailSettings;
}

export function createLmtpSink(options: LmtpSinkOptions): Sink {
  const { client, logger } = options;
  const index = createArchiveIndex(options.mail, logger);

  return {
    store: (record, { dedupe }) =>
      index.once(record, async () => {
        const placement = await index.placement(record, undefined);
        if (!placement) return REACTION_WITHOUT_ORIGINAL;
        // The address is checked before anything is rendered, as the Maildir path is.
        const recipient = lmtpRecipient(record.owner, placement.folder, client.target);
        const mail = await index.render(record, undefined);
        const folder = recipient.folder.join("/") || "INBOX";
        if (await index.isRoomDuplicate(record, mail.messageId, undefined)) return { status: "duplicate", messageId: mail.messageId, folder, bytes: 0 };
        if (recipient.folder.length < placement.folder.length) {
          logger.debug({ user: bare(record.owner), folder: placement.folder.join("/"), used: folder }, "folder name is not ASCII; delivering over LMTP to its parent");
        }
        dedupe?.journal.sending(dedupe.key, recipient.address);
        let response: string;
        try {
          response = await client.deliver(recipient.address, mail.bytes);
        } catch (err) {
          // A reply said it was not stored; without one (connection lost) the attempt stays in doubt.
          if (dedupe && err instanceof LmtpError && err.responseCode !== undefined) dedupe.journal.abandon(dedupe.key);
          throw err;
        }
        // The entry serves corrections and room history, not markers.
        index.remember(record, mail.messageId, { ...NOT_A_FILE, folder: recipient.folder });
        // Durable before the confirmation: a copy re-sent after a crash here is then not delivered twice.
        await dedupe?.journal.delivered(dedupe.key);
        return { status: "stored", messageId: mail.messageId, folder, bytes: mail.bytes.length, response };
      }),
    mark: () => Promise.resolve("not-applied"),
    close: () => client.close(),
  };
}
