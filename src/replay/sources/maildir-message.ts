// One archived mail → what replay delivers: the stanza of its application/xmpp+xml part (through
// the fast path for mail we wrote, mailparser for anything else), or with --include-mail an
// ordinary mail as a `normal` message.
import xml from "@xmpp/xml";
import { MalformedError } from "../../errors.js";
import { bare, parseJid, type Jid } from "../../jid.js";
import { extractXmppPart, parseMail, peekHeaders, type ParsedMail } from "../../mail/index.js";
import { readWhole } from "../../maildir/index.js";
import type { Domains } from "../owner.js";
import { loadStanza, loadStanzaXml } from "../records.js";
import type { Loaded } from "../types.js";

export interface MaildirMessageContext {
  readonly owner: Jid | undefined;
  /** The time the index found (Date header, else the delivery time in the file name). */
  readonly indexTime: Date | undefined;
  /** Turn mail without an application/xmpp+xml part into a `normal` message instead of skipping it. */
  readonly includeMail: boolean;
  readonly domains: Domains;
}

/** A mail as replay reads it: the stanza it carries, or (ordinary mail) what mailparser found. */
type Reading =
  | { readonly kind: "stanza"; readonly xml: string; readonly date: Date | undefined; readonly messageId: string | undefined }
  | { readonly kind: "mail"; readonly mail: ParsedMail };

async function readMessage(file: string): Promise<Reading> {
  try {
    const bytes = await readWhole(file);
    // Mail we wrote: the stanza part straight from the bytes (about 50× cheaper than a full
    // parse). Anything else goes to mailparser, exactly as before the fast path existed.
    const part = extractXmppPart(bytes);
    if (part.kind === "found") return { kind: "stanza", xml: part.stanzaXml, date: part.date, messageId: peekHeaders(bytes)?.get("message-id") };
    const mail = await parseMail(bytes);
    return mail.stanzaXml === undefined ? { kind: "mail", mail } : { kind: "stanza", xml: mail.stanzaXml, date: mail.date, messageId: mail.messageId };
  } catch (err) {
    throw new MalformedError(file, `cannot be parsed as mail (${(err as Error).message})`);
  }
}

export async function loadMaildirMessage(file: string, message: MaildirMessageContext): Promise<Loaded> {
  const reading = await readMessage(file);
  const date = reading.kind === "stanza" ? reading.date : reading.mail.date;
  const { owner } = message;
  const facts = { location: file, owner, reason: "replay" as const, fallbackTime: date ?? message.indexTime ?? new Date(0), domains: message.domains };
  if (reading.kind === "stanza") {
    const loaded = loadStanzaXml(reading.xml, facts);
    return loaded.kind === "record" ? { ...loaded, messageIdDomain: idDomain(reading.messageId) } : loaded;
  }
  if (!message.includeMail) return { kind: "skip", reason: "ordinary mail (no application/xmpp+xml part)" };
  return loadStanza(messageFromMail(reading.mail, file, owner), facts);
}

/** --include-mail: an ordinary mail as the `normal` message (RFC 6121 §5.2.2) it would have been. */
function messageFromMail(mail: ParsedMail, file: string, owner: Jid | undefined) {
  const from = parseJid(mail.from);
  const to = parseJid(mail.to) ?? owner;
  if (!from || !to) throw new MalformedError(file, "ordinary mail without a usable From or To address");
  return xml(
    "message",
    { xmlns: "jabber:client", type: "normal", from: bare(from), to: bare(to), id: mail.messageId?.replace(/^<|>$/g, "") },
    mail.subject ? xml("subject", {}, mail.subject) : null,
    xml("body", {}, (mail.text ?? "").replace(/\r\n/g, "\n").trimEnd()),
  );
}

/** "<hash@archive.example.org>" → "archive.example.org": what the archiver used as --domain. */
function idDomain(messageId: string | undefined): string | undefined {
  const m = /^\s*<[^@<>\s]+@([^<>\s@]+)>\s*$/.exec(messageId ?? "");
  return m?.[1];
}
