// Reactions between mail and XMPP (README, "Mail to XMPP and back"):
//   in:  a new INBOX mail that is an RFC 9078 reaction (./mail-in.ts) → a XEP-0444 reaction from
//        the sender's escaped JID to the message it names (./match.ts), never a new message;
//   out: a XEP-0444 reaction the user sends to an escaped JID → an RFC 9078 reaction mail, as
//        Delta Chat sends one, In-Reply-To the mail of the message reacted to, through the
//        outbound path's SMTP sender and per-user send limits.
// A reaction that names a message of another conversation, or one we do not know, is not applied:
// from mail it is not pushed at all (a log line; the mail stays in the INBOX for mail clients),
// from XMPP it gets a stanza error.
import { randomUUID } from "node:crypto";
import type { Element } from "@xmpp/xml";
import { RefusedError } from "../../errors.js";
import { bare, parseJid } from "../../jid.js";
import type { Logger } from "../../log/index.js";
import type { MaildirResolver, MaildirWriter } from "../../maildir/index.js";
import { addressToJid } from "../address.js";
import { composeMail, SENT_FOLDER, type SendCounter, type SmtpSender } from "../outbound/index.js";
import type { PushedMail } from "../state.js";
import type { ReplyContext } from "../threads.js";
import type { NewMail } from "../watch/index.js";
import type { SentLinks } from "./links.js";
import { readReactionMail } from "./mail-in.js";
import { matchByMessageId, matchByStanzaId } from "./match.js";
import { readStanzaReaction, reactionStanza } from "./stanza.js";

export interface ReactionsOptions {
  readonly componentDomain: string;
  readonly userDomain: string;
  /** The push records (Message-IDs of pushed mail); undefined without --watch. */
  readonly pushed: PushedMail | undefined;
  readonly sent: SentLinks;
  readonly send: (stanza: Element) => Promise<void>;
  readonly logger: Logger;
}

/** What sending a reaction as mail needs: the outbound path's parts, shared (one send counter). */
export interface ReactionMailer {
  readonly resolve: MaildirResolver;
  readonly writer: MaildirWriter;
  readonly smtp: SmtpSender;
  readonly counter: SendCounter;
  /** The conversation's last message, for the subject Delta Chat would give the reaction. */
  readonly replyContext: (user: string, match: { from: string }) => ReplyContext | undefined;
}

export interface Reactions {
  /** For the scanner's push: true when the mail was a reaction (pushed as one, or not applied). */
  fromMail(mail: NewMail): Promise<boolean>;
  /**
   * Sends the user's XEP-0444 reaction as mail. False when the stanza carries none. Throws
   * RefusedError (unknown or foreign message, no mailer, a send limit) or SmtpError.
   */
  fromStanza(stanza: Element, recipient: string, mailer: ReactionMailer | undefined): Promise<boolean>;
}

export function createReactions(options: ReactionsOptions): Reactions {
  const logger = options.logger.child({ part: "reactions" });
  return {
    async fromMail(mail) {
      const reaction = await readReactionMail(mail.bytes);
      if (!reaction) return false;
      const log = { user: mail.user, mail: mail.base, from: reaction.fromAddress, inReplyTo: reaction.inReplyTo };
      if (!reaction.fromAddress || !reaction.inReplyTo) {
        logger.info(log, "reaction mail names no sender or no message; not pushed");
        return true;
      }
      const peer = addressToJid(reaction.fromAddress, options.componentDomain);
      const match = matchByMessageId({ pushed: options.pushed, sent: options.sent, user: mail.user, peer, messageId: reaction.inReplyTo });
      if (match.found === "other-conversation") {
        logger.warn({ ...log, conversation: match.peer }, "reaction mail names a message of another conversation; not applied");
        return true;
      }
      if (match.found === "no") {
        logger.info(log, "reaction mail to a message the user was never pushed or sent (or long ago); not pushed");
        return true;
      }
      await options.send(reactionStanza({ from: peer, to: mail.user, id: randomUUID(), target: match.id, emojis: reaction.emojis }));
      logger.info({ ...log, id: match.id, direction: match.direction, emojis: reaction.emojis.length }, "reaction pushed");
      return true;
    },

    async fromStanza(stanza, recipient, mailer) {
      const reaction = readStanzaReaction(stanza);
      if (!reaction) return false;
      const from = parseJid(stanza.attrs.from);
      if (!from?.local || from.domain !== options.userDomain) {
        throw new RefusedError("only local users may send mail through this component", { type: "cancel", condition: "forbidden" });
      }
      if (!mailer) throw new RefusedError("sending mail is not enabled on this component (no --smtp-url)", { type: "cancel", condition: "service-unavailable" });
      const user = bare(from);
      const peer = String(stanza.attrs.to).split("/")[0]!;
      const match = matchByStanzaId({ pushed: options.pushed, sent: options.sent, user, peer, id: reaction.target });
      if (match.found !== "yes") {
        if (match.found === "other-conversation") logger.warn({ user, to: peer, id: reaction.target, conversation: match.peer }, "reaction names a message of another conversation; not sent");
        throw new RefusedError(`no mail of this conversation is known for message id ${reaction.target}; the reaction cannot be sent`, { type: "cancel", condition: "item-not-found" });
      }
      await mailer.counter.take(user);
      const last = mailer.replyContext(user, { from: recipient });
      // RFC 9078 §2: In-Reply-To the message reacted to; the subject as Delta Chat's for the chat.
      const target: ReplyContext = { thread: undefined, from: recipient, messageId: match.messageId, references: [], subject: last?.subject ?? "", chat: true };
      const composed = await composeMail({ from: user, to: recipient, subject: undefined, text: reaction.emojis.join(" "), replyTo: target, domain: options.userDomain, reaction: true });
      const { response } = await mailer.smtp.send({ envelope: composed.envelope, raw: composed.bytes });
      logger.info({ user, to: recipient, id: reaction.target, inReplyTo: match.messageId, messageId: composed.messageId, emojis: reaction.emojis.length, response }, "reaction sent as mail");
      try {
        await mailer.writer.deliver(mailer.resolve({ local: from.local, domain: from.domain }), composed.bytes, { folder: [SENT_FOLDER], seen: true });
      } catch (err) {
        logger.error({ user, messageId: composed.messageId, err: (err as Error).message }, "reaction sent, but its copy could not be saved in Sent");
      }
      return true;
    },
  };
}
