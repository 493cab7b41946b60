// Reading Maildirs back (https://cr.yp.to/proto/maildir.html): the messages in new/ and cur/ of a
// folder, the Maildir++ folders of a user (INBOX plus ".Sub" directories, as Dovecot lays them out:
// https://doc.dovecot.org/2.3/admin_manual/mailbox_formats/maildir/#directory-structure), and every
// user's Maildir below a template root. tmp/ is never read: a file there may be half-written.
import type { Dir } from "node:fs";
import { opendir, readdir, stat } from "node:fs/promises";
import path from "node:path";
import type { MailboxOwner } from "./template.js";

export interface MaildirFolder {
  /** "INBOX", or the Maildir++ name without its leading dot ("Archive.2024"). */
  readonly name: string;
  readonly path: string;
}

export interface MaildirMessage {
  readonly path: string;
  /** The unique part of the file name: Dovecot appends ":2,<flags>" once a message is in cur/. */
  readonly id: string;
}

export async function isMaildirFolder(dir: string): Promise<boolean> {
  for (const sub of ["cur", "new"]) {
    if (await isDirectory(path.join(dir, sub))) return true;
  }
  return false;
}

/** INBOX (the Maildir itself) and its Maildir++ subfolders. */
export async function listFolders(maildir: string): Promise<MaildirFolder[]> {
  const folders: MaildirFolder[] = [];
  if (await isMaildirFolder(maildir)) folders.push({ name: "INBOX", path: maildir });
  for (const entry of await readdir(maildir, { withFileTypes: true })) {
    if (!entry.isDirectory() || !entry.name.startsWith(".") || entry.name === "." || entry.name === "..") continue;
    const dir = path.join(maildir, entry.name);
    if (await isMaildirFolder(dir)) folders.push({ name: entry.name.slice(1), path: dir });
  }
  return folders.sort((a, b) => (a.name === "INBOX" ? -1 : b.name === "INBOX" ? 1 : a.name.localeCompare(b.name)));
}

/** The folder path for a Maildir++ name: INBOX is the Maildir itself. */
export function folderPath(maildir: string, name: string): string {
  return name === "INBOX" ? maildir : path.join(maildir, `.${name}`);
}

/** Directory entries fetched per readdir(3) batch while streaming a folder: few syscalls, little memory. */
const LISTING_BATCH = 256;

/** Every message file in new/ and cur/ (a missing subdirectory counts as empty). */
export async function listMessages(folder: string): Promise<MaildirMessage[]> {
  const messages: MaildirMessage[] = [];
  for await (const message of messageFiles(folder)) messages.push(message);
  return messages;
}

/**
 * The same files as listMessages, one at a time as the directory is read (fs.opendir), so a
 * folder of 100,000 messages is never held as one list of names.
 */
export async function* messageFiles(folder: string): AsyncGenerator<MaildirMessage> {
  for (const sub of ["new", "cur"]) {
    let dir: Dir;
    try {
      dir = await opendir(path.join(folder, sub), { bufferSize: LISTING_BATCH });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw err;
    }
    for await (const entry of dir) {
      // Dot files are not messages (the spec reserves them); Dovecot keeps none in new/ or cur/.
      if (entry.name.startsWith(".")) continue;
      yield { path: path.join(folder, sub, entry.name), id: entry.name.split(":")[0] ?? entry.name };
    }
  }
}

export interface TemplateMatch {
  readonly owner: MailboxOwner;
  readonly maildir: string;
}

const VARIABLE = /%(.)/g;

/**
 * Every existing Maildir that `template` (%u, %n, %d, %%) can name, with the user it belongs to,
 * found by walking the directories below the template's static root.
 */
export async function expandTemplate(template: string): Promise<TemplateMatch[]> {
  const segments = path.resolve(template).split(path.sep).slice(1);
  const matches: TemplateMatch[] = [];
  async function walk(dir: string, index: number, vars: Record<string, string>): Promise<void> {
    if (index === segments.length) {
      const local = vars.n ?? vars.u?.split("@")[0];
      const domain = vars.d ?? vars.u?.split("@")[1];
      if (local && domain && (await isDirectory(dir))) matches.push({ owner: { local, domain }, maildir: dir });
      return;
    }
    const segment = segments[index]!;
    if (!/%[und]/.test(segment)) return walk(path.join(dir, segment.replaceAll("%%", "%")), index + 1, vars);
    let names: string[];
    try {
      names = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "ENOTDIR") return;
      throw err;
    }
    const { regex, names: groups } = segmentPattern(segment);
    for (const name of names.sort()) {
      const m = regex.exec(name);
      if (!m) continue;
      const next = { ...vars };
      let consistent = true;
      groups.forEach((v, i) => {
        const value = m[i + 1]!;
        if (next[v] !== undefined && next[v] !== value) consistent = false;
        next[v] = value;
      });
      if (consistent) await walk(path.join(dir, name), index + 1, next);
    }
  }
  await walk(path.sep, 0, {});
  return matches;
}

function segmentPattern(segment: string): { regex: RegExp; names: string[] } {
  const names: string[] = [];
  let source = "";
  let last = 0;
  for (const m of segment.matchAll(VARIABLE)) {
    source += escapeRegex(segment.slice(last, m.index));
    const v = m[1]!;
    if (v === "%") source += "%";
    else {
      names.push(v);
      source += v === "u" ? "([^/@]+@[^/]+)" : "([^/]+?)";
    }
    last = m.index + m[0].length;
  }
  source += escapeRegex(segment.slice(last));
  return { regex: new RegExp(`^${source}$`), names };
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}
