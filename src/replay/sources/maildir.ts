// Replay source: one Maildir folder, a user's whole Maildir (INBOX and its Maildir++ folders), or
// every user's Maildir below a template (%d/%n). Indexing reads each file's header block for its
// Date; the message is read and parsed (./maildir-message.ts) only when its turn comes, so memory
// stays a small index entry per message.
import path from "node:path";
import { ConfigError } from "../../errors.js";
import { bare, type Jid } from "../../jid.js";
import { headerDate, peekHeaders } from "../../mail/index.js";
import { expandTemplate, isMaildirFolder, listFolders, messageFiles, type MaildirFolder, readHeaderBytes } from "../../maildir/index.js";
import { forEachLimit } from "../limit.js";
import type { Domains } from "../owner.js";
import type { Loaded, Source, SourceEntry } from "../types.js";
import { loadMaildirMessage } from "./maildir-message.js";

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
      const entries: SourceEntry[] = [];
      const problems: Array<{ location: string; reason: string }> = [];
      for (const mailbox of await resolveMailboxes(options.source)) {
        for (const folder of mailbox.folders) {
          const context: FolderContext = { folder: folder.name, owner: mailbox.owner, keyPrefix: `${mailbox.owner ? bare(mailbox.owner) : "-"}/${folder.name}/`, options };
          // Streamed: the directory is read as the header reads go, never held as a list.
          await forEachLimit(messageFiles(folder.path), INDEX_READ_CONCURRENCY, async (m) => {
            try {
              const headers = peekHeaders(await readHeaderBytes(m.path));
              if (!headers) problems.push({ location: m.path, reason: "no mail header block (empty or not a mail)" });
              else entries.push(new MaildirEntry(m.path, headerDate(headers) ?? deliveryTime(m.id), deliveryMicros(m.id), context));
            } catch (err) {
              // Gone since the listing (Dovecot moved it new/ → cur/, expunged it): not a failure.
              if ((err as NodeJS.ErrnoException).code !== "ENOENT") problems.push({ location: m.path, reason: (err as Error).message });
            }
          });
        }
      }
      // Reads finish in any order; the report should not.
      problems.sort((a, b) => (a.location < b.location ? -1 : a.location > b.location ? 1 : 0));
      return { entries, problems };
    },
  };
}

/** What the entries of one folder share, so that each entry holds little more than its path. */
interface FolderContext {
  readonly folder: string;
  readonly owner: Jid | undefined;
  /** The checkpoint key without the file's unique name: "alice@example.org/INBOX/". */
  readonly keyPrefix: string;
  readonly options: MaildirSourceOptions;
}

/**
 * One message of the index. Replay keeps one per message until the end of the run, so it is
 * small: a path, a Date, a number and a shared context (about 250 bytes of heap with the path).
 * The key is derived from the path when asked for.
 */
class MaildirEntry implements SourceEntry {
  constructor(
    readonly location: string,
    readonly time: Date | undefined,
    readonly tiebreak: number,
    private readonly context: FolderContext,
  ) {}

  get key(): string {
    return `${this.context.keyPrefix}${uniqueName(this.location)}`;
  }

  get folder(): string {
    return this.context.folder;
  }

  get owner(): Jid | undefined {
    return this.context.owner;
  }

  load(): Promise<Loaded> {
    const { owner, options } = this.context;
    return loadMaildirMessage(this.location, { owner, indexTime: this.time, includeMail: options.includeMail, domains: options.domains });
  }
}

/** The unique part of a Maildir file name: what precedes ":2,<flags>" (as listMessages' id). */
function uniqueName(file: string): string {
  const name = path.basename(file);
  return name.split(":")[0] ?? name;
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
