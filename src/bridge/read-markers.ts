// Read state follows the user: a XEP-0333 <displayed/> marker or a XEP-0184 <received/> receipt
// for a message we pushed makes its mail \Seen in the Maildir, the way Dovecot stores it (the S
// in the ":2," info of the file in cur/; for Dovecot's maildir the file name is where \Seen lives,
// its index is only a cache it re-syncs from the names). The mail may have been moved or its other
// flags changed by an IMAP client meanwhile: maildir/'s addFlags finds it by its unique name and
// keeps its other flags.
import type { Element } from "@xmpp/xml";
import { bare, parseJid } from "../jid.js";
import type { Logger } from "../log/index.js";
import { addFlags, createKeywordMap, type MaildirResolver } from "../maildir/index.js";
import { NS_CHAT_MARKERS, NS_RECEIPTS } from "../namespaces.js";
import type { PushedMail, PushRecord } from "./state.js";

export interface ReadMarkers {
  /** Applies the marker or receipt the message carries, if any; never throws. */
  handle(stanza: Element): Promise<void>;
}

export function createReadMarkers(options: { userDomain: string; resolve: MaildirResolver; pushed: PushedMail; logger: Logger }): ReadMarkers {
  const { logger, pushed } = options;
  // Keywords are never added here; the map is only what addFlags asks for.
  const keywordMap = createKeywordMap({ fileMode: 0o600 });

  async function markSeen(user: string, maildir: string, records: PushRecord[], via: string): Promise<void> {
    for (const record of records) {
      const { result } = await addFlags(keywordMap, maildir, record.base, { seen: true, keywords: [] });
      if (result !== "missing") record.read = true;
      logger.info({ user, mail: record.base, id: record.id, via, result }, result === "missing" ? "read marker for a mail no longer in INBOX" : "mail marked read");
    }
    pushed.changed();
  }

  return {
    async handle(stanza) {
      const displayed = stanza.getChild("displayed", NS_CHAT_MARKERS)?.attrs.id as string | undefined;
      const received = stanza.getChild("received", NS_RECEIPTS)?.attrs.id as string | undefined;
      const id = displayed ?? received;
      if (!id) return;
      const from = parseJid(stanza.attrs.from);
      if (!from?.local || from.domain !== options.userDomain) {
        logger.debug({ from: stanza.attrs.from, id }, "read marker from outside our users; ignored");
        return;
      }
      const user = bare(from);
      const list = pushed.list(user);
      const index = list.findIndex((r) => r.id === id);
      const target = list[index];
      // Only for the conversation it was pushed in (servers may case-fold the JID: RFC 7622 §3.3).
      if (!target || target.peer.toLowerCase() !== String(stanza.attrs.to ?? "").split("/")[0]!.toLowerCase()) {
        logger.debug({ user, id, to: stanza.attrs.to }, "read marker for a message we did not push; ignored");
        return;
      }
      // XEP-0333 §4: a displayed marker also stands for the earlier messages of that conversation;
      // a XEP-0184 receipt is for its message only.
      const records = displayed ? list.slice(0, index + 1).filter((r) => r.peer === target.peer && !r.read) : target.read ? [] : [target];
      try {
        await markSeen(user, options.resolve({ local: from.local, domain: from.domain }), records, displayed ? "displayed" : "receipt");
      } catch (err) {
        logger.warn({ user, id, err: (err as Error).message }, "cannot mark the mail read");
      }
    },
  };
}
