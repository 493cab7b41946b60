// A pushed mail as an XMPP message: type normal (RFC 6121 §5.2.2, "a single message … to which a
// reply may or may not be expected"), from the escaped sender at the component, with the IMAP URL
// in a jabber:x:oob element (XEP-0066 §3) so a client can open the full mail.
import xml, { type Element } from "@xmpp/xml";
import { createHash } from "node:crypto";
import { NS_CHAT_MARKERS, NS_OOB, NS_RECEIPTS } from "../../namespaces.js";
import { addressToJid } from "../address.js";
import type { MailSummary } from "./summary.js";


/** A stable <thread> for a mail, so a reply can be matched to the mail it answers (RFC 6121 §5.2.5). */
export function threadFor(messageId: string): string {
  return "mail-" + createHash("sha256").update(messageId).digest("hex").slice(0, 24);
}

export interface PushedMessage {
  readonly stanza: Element;
  /** Undefined when the mail has no Message-ID: nothing to thread a reply to. */
  readonly thread: string | undefined;
}

export function pushedMessage(input: {
  summary: MailSummary;
  to: string;
  componentDomain: string;
  url: string;
  id: string;
}): PushedMessage {
  const { summary } = input;
  // A mail without a usable From still needs a sender: the component itself (replies are refused
  // with a clear error rather than going to a made-up address).
  const from = summary.fromAddress ? addressToJid(summary.fromAddress, input.componentDomain) : input.componentDomain;
  const thread = summary.messageId ? threadFor(summary.messageId) : undefined;
  const header = summary.fromName ? `From: ${summary.fromName} <${summary.fromAddress ?? ""}>\n\n` : "";
  if (summary.chat) {
    // Chat-over-email: a conversation with the sender, not a notice (RFC 6121 §5.2.2 "chat"); no
    // subject, no link, just what they wrote.
    const stanza = xml(
      "message",
      { type: "chat", from, to: input.to, id: input.id },
      xml("body", {}, summary.text),
      thread ? xml("thread", {}, thread) : null,
      xml("markable", { xmlns: NS_CHAT_MARKERS }),
      xml("request", { xmlns: NS_RECEIPTS }),
    );
    return { stanza, thread };
  }
  const stanza = xml(
    "message",
    { type: "normal", from, to: input.to, id: input.id },
    summary.subject ? xml("subject", {}, summary.subject) : null,
    xml("body", {}, `${header}${summary.text}`),
    thread ? xml("thread", {}, thread) : null,
    xml("x", { xmlns: NS_OOB }, xml("url", {}, input.url), xml("desc", {}, summary.subject || "mail")),
    // Asks the client to say when the user has seen it (XEP-0333 §4, XEP-0184 §5.1): the mail
    // then becomes \Seen (../read-markers.ts).
    xml("markable", { xmlns: NS_CHAT_MARKERS }),
    xml("request", { xmlns: NS_RECEIPTS }),
  );
  return { stanza, thread };
}
