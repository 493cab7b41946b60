// A message from a local user to <escaped address>@<component> → a mail From the user's address
// through the smarthost, answering the pushed mail it replies to, with a copy in their Sent folder.
// One recipient per mail, always: the one the JID names. Within the size and rate limits only.
import type { Element } from "@xmpp/xml";
import { RefusedError, SmtpError } from "../../errors.js";
import { NS_SID } from "../../namespaces.js";
import { bare, parseJid } from "../../jid.js";
import type { Logger } from "../../log/index.js";
import type { MaildirResolver, MaildirWriter } from "../../maildir/index.js";
import type { Fetcher } from "../../fetch/index.js";
import { fetchReplyFiles, replyText, withoutAttachments, type ReplyFiles } from "../attachments/index.js";
import type { ReplyContext } from "../threads.js";
import { composeMail, referencesFor } from "./compose.js";
import type { SendCounter } from "./limits.js";
import type { SmtpSender } from "./smtp.js";

/** The Maildir++ folder Dovecot and mail clients use for sent mail (RFC 6154 \Sent by convention). */
export const SENT_FOLDER = "Sent";

export interface OutboundOptions {
  readonly userDomain: string;
  readonly resolve: MaildirResolver;
  readonly writer: MaildirWriter;
  readonly smtp: SmtpSender;
  /** --smtp-max-per-minute and --smtp-max-per-day (./limits.ts). */
  readonly counter: SendCounter;
  /** --max-stanza-bytes: the same limit as for archived messages. */
  readonly maxStanzaBytes: number;
  readonly replyContext: (user: string, match: { thread?: string | undefined; from: string }) => ReplyContext | undefined;
  /** A chat-over-email reply becomes the conversation's last message, for the next reply's In-Reply-To. */
  readonly remember?: (user: string, context: ReplyContext) => void;
  /** Each mail sent: the stanza's ids and the mail's Message-ID, for reactions (../reactions/links.ts). */
  readonly onSent?: (user: string, sent: { ids: string[]; messageId: string; peer: string }) => void;
  readonly logger: Logger;
  /** --upload-origins: files shared in the message are fetched with it and attached. */
  readonly fetcher?: Fetcher | undefined;
}

export interface Outbound {
  /** Sends the message as mail to `recipient`. Throws RefusedError or SmtpError. */
  send(stanza: Element, recipient: string): Promise<void>;
}

export function createOutbound(options: OutboundOptions): Outbound {
  const { logger } = options;
  return {
    async send(stanza, recipient) {
      const from = parseJid(stanza.attrs.from);
      // Only our own users: otherwise anyone on the federated network could send mail as an open relay.
      if (!from?.local || from.domain !== options.userDomain) {
        throw new RefusedError("only local users may send mail through this component", { type: "cancel", condition: "forbidden" });
      }
      if (stanza.attrs.type === "groupchat") {
        throw new RefusedError("group chat messages are not sent as mail", { type: "modify", condition: "not-acceptable" });
      }
      const text = stanza.getChildText("body");
      // Chat states and receipts carry no body: nothing to mail, and no error to bother the user with.
      if (!text) return;
      const size = Buffer.byteLength(stanza.toString());
      if (size > options.maxStanzaBytes) {
        throw new RefusedError(`message of ${size} bytes is over the ${options.maxStanzaBytes}-byte limit (max-stanza-bytes)`, { type: "modify", condition: "policy-violation" });
      }
      const user = bare(from);
      // Counted and saved before the mail goes: a crash after sending cannot hand out a fresh allowance.
      await options.counter.take(user);
      const thread = stanza.getChildText("thread") ?? undefined;
      const parent = options.replyContext(user, { thread, from: recipient });
      // After the count: fetching costs time and memory, and the limits bound that too.
      const compose = (files: ReplyFiles) =>
        composeMail({
          from: user,
          to: recipient,
          subject: stanza.getChildText("subject") ?? undefined,
          text: replyText(text, files),
          attachments: files.attachments,
          replyTo: parent,
          domain: options.userDomain,
        });
      const files = await fetchReplyFiles(stanza, options.fetcher, logger.child({ user, to: recipient }));
      let composed = await compose(files);
      let response: string;
      try {
        ({ response } = await options.smtp.send({ envelope: composed.envelope, raw: composed.bytes }));
      } catch (err) {
        // RFC 5321 §4.2.2 552 / RFC 3463 5.3.4: the smarthost takes no mail this big (Postfix's
        // message_size_limit is 10 MB by default). The text still goes, naming the files left out.
        if (!(err instanceof SmtpError) || err.responseCode !== 552 || files.attachments.length === 0) throw err;
        logger.info({ user, to: recipient, response: err.response }, "mail with attachments refused for its size; sending the text without them");
        composed = await compose(withoutAttachments(files, `the mail server refused the mail with it: ${err.response}`));
        ({ response } = await options.smtp.send({ envelope: composed.envelope, raw: composed.bytes }));
      }
      logger.info({ user, to: recipient, messageId: composed.messageId, inReplyTo: parent?.messageId, chat: parent?.chat === true, response }, "mail sent");
      const ids = [stanza.attrs.id, stanza.getChild("origin-id", NS_SID)?.attrs.id].filter((id): id is string => typeof id === "string" && id !== "");
      options.onSent?.(user, { ids: [...new Set(ids)], messageId: composed.messageId, peer: String(stanza.attrs.to).split("/")[0]!.toLowerCase() });
      if (parent?.chat) {
        options.remember?.(user, { thread: parent.thread, from: parent.from, messageId: composed.messageId, references: referencesFor(parent), subject: composed.subject, chat: true });
      }
      try {
        await options.writer.deliver(options.resolve({ local: from.local, domain: from.domain }), composed.bytes, { folder: [SENT_FOLDER], seen: true });
      } catch (err) {
        // The mail is gone already; failing the stanza now would make the user send it twice.
        logger.error({ user, messageId: composed.messageId, err: (err as Error).message }, "mail sent, but its copy could not be saved in Sent");
      }
    },
  };
}
