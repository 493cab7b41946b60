// Replay source: one Maildir folder, a user's whole Maildir (INBOX and its Maildir++ folders), or
// every user's Maildir below a template (%d/%n). Indexing reads each file's header block for its
// Date; the message is parsed (mailparser) only when its turn comes, so memory stays per-entry.
import path from "node:path";
import xml from "@xmpp/xml";
import { ConfigError, MalformedError } from "../../errors.js";
import { bare, parseJid, type Jid } from "../../jid.js";
import { extractXmppPart, headerDate, parseMail, peekHeaders, type ParsedMail } from "../../mail/index.js";
import { expandTemplate, isMaildirFolder, listFolders, listMessages, type MaildirFolder } from "../../maildir/index.js";
import { readHeaderBytes, readWhole } from "../files.js";
import { mapLimit } from "../limit.js";
import type { Domains } from "../owner.js";
import { loadStanza, loadStanzaXml } from "../records.js";
import type { Loaded, Source, SourceEntry } from "../types.js";

/** Small files, mostly in the page cache: enough parallel reads to hide latency, few enough fds. */
const INDEX_READ_CONCURRENCY = 32;

export interface MaildirSourceOptions {
  /** A Maildir folder, a user's Maildir, or a template with %u/%n/%d. */
  readonly source: string;
  /** Turn mail without an application/xmpp+xml part into a `normal` message instead of skipping it. */
  readonly includeMail: boolean;
  readonly domains: Domains;
}

interface Mailbox {
  readonly owner: Jid | undefined;
  readonly folders: MaildirFolder[];
}

export function createMaildirSource(options: MaildirSourceOptions): Source {
  return {
    description: `maildir:${path.resolve(options.source)}`,
    async scan() {
      const mailboxes = await resolveMailboxes(options.source);
      const entries: SourceEntry[] = [];
      const problems: Array<{ location: string; reason: string }> = [];
      for (const mailbox of mailboxes) {
        for (const folder of mailbox.folders) {
          const messages = await listMessages(folder.path);
          const indexed = await mapLimit(messages, INDEX_READ_CONCURRENCY, async (m) => {
            try {
              const headers = peekHeaders(await readHeaderBytes(m.path));
              if (!headers) return { problem: { location: m.path, reason: "no mail header block (empty or not a mail)" } };
              return { time: headerDate(headers) ?? deliveryTime(m.id) };
            } catch (err) {
              // Gone since the listing (Dovecot moved it new/ → cur/, expunged it): not a failure.
              if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
              return { problem: { location: m.path, reason: (err as Error).message } };
            }
          });
          messages.forEach((m, i) => {
            const result = indexed[i]!;
            if ("problem" in result) problems.push(result.problem!);
            else if ("time" in result) {
              const owner = mailbox.owner;
              entries.push({
                key: `${owner ? bare(owner) : "-"}/${folder.name}/${m.id}`,
                time: result.time,
                tiebreak: deliveryMicros(m.id),
                folder: folder.name,
                owner,
                location: m.path,
                load: () => loadMessage(m.path, owner, result.time, options),
              });
            }
          });
        }
      }
      return { entries, problems };
    },
  };
}

async function resolveMailboxes(source: string): Promise<Mailbox[]> {
  if (/%[und]/.test(source)) {
    const matches = await expandTemplate(source);
    const boxes: Mailbox[] = [];
    for (const m of matches) boxes.push({ owner: { local: m.owner.local, domain: m.owner.domain, resource: "" }, folders: await listFolders(m.maildir) });
    return boxes;
  }
  const dir = path.resolve(source);
  const base = path.basename(dir);
  if (base.startsWith(".") && (await isMaildirFolder(dir)) && (await isMaildirFolder(path.dirname(dir)))) {
    return [{ owner: undefined, folders: [{ name: base.slice(1), path: dir }] }];
  }
  let folders: MaildirFolder[];
  try {
    folders = await listFolders(dir);
  } catch (err) {
    throw new ConfigError("source", `cannot read ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (folders.length === 0) {
    throw new ConfigError("source", `${dir} is not a Maildir (no cur/ or new/ in it or in its .Folder subdirectories); give a Maildir, a Maildir++ folder, or a template such as /var/vmail/%d/%n/Maildir`);
  }
  return [{ owner: undefined, folders }];
}

/** The Maildir spec's file names start with the delivery time in seconds. */
function deliveryTime(id: string): Date | undefined {
  const seconds = /^(\d+)\./.exec(id)?.[1];
  return seconds ? new Date(Number(seconds) * 1000) : undefined;
}

/** <seconds>.M<microseconds>P…: when the message was delivered, to the microsecond, else 0. */
function deliveryMicros(id: string): number {
  const m = /^(\d+)\.M(\d+)/.exec(id);
  return m ? Number(m[1]) * 1e6 + Number(m[2]) : 0;
}

/** A mail as replay reads it: the stanza it carries, or (ordinary mail) what mailparser found. */
type Reading =
  | { readonly kind: "stanza"; readonly xml: string; readonly date: Date | undefined }
  | { readonly kind: "mail"; readonly mail: ParsedMail };

async function readMessage(file: string): Promise<Reading> {
  try {
    const bytes = await readWhole(file);
    // Mail we wrote: the stanza part straight from the bytes (about 50× cheaper than a full
    // parse). Anything else goes to mailparser, exactly as before the fast path existed.
    const part = extractXmppPart(bytes);
    if (part.kind === "found") return { kind: "stanza", xml: part.stanzaXml, date: part.date };
    const mail = await parseMail(bytes);
    return mail.stanzaXml === undefined ? { kind: "mail", mail } : { kind: "stanza", xml: mail.stanzaXml, date: mail.date };
  } catch (err) {
    throw new MalformedError(file, `cannot be parsed as mail (${(err as Error).message})`);
  }
}

async function loadMessage(file: string, owner: Jid | undefined, indexTime: Date | undefined, options: MaildirSourceOptions): Promise<Loaded> {
  const reading = await readMessage(file);
  const date = reading.kind === "stanza" ? reading.date : reading.mail.date;
  const facts = { location: file, owner, reason: "replay" as const, fallbackTime: date ?? indexTime ?? new Date(0), domains: options.domains };
  if (reading.kind === "stanza") return loadStanzaXml(reading.xml, facts);
  if (!options.includeMail) return { kind: "skip", reason: "ordinary mail (no application/xmpp+xml part)" };
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
