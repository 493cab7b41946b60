// Maildir++ folders as Dovecot lays them out
// (https://doc.dovecot.org/2.3/admin_manual/mailbox_formats/maildir/#directory-structure):
// the IMAP folder "Chats/room" is the directory <Maildir>/.Chats.room, '.' separating levels, each
// name in modified UTF-7; every folder directory holds an empty `maildirfolder` file (so delivery
// agents and quota know it is a subfolder); and IMAP clients that show subscribed folders only
// need the name in <Maildir>/subscriptions. Checked against Dovecot 2.3.19: after CREATE and
// SUBSCRIBE it writes exactly this (src/lib-storage/list/subscription-file.c: a "V\t2\n\n" header,
// then one name per line with its levels separated by tabs).
import { mkdir, open, readFile, rename, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { BadAddressError } from "../errors.js";
import { withDovecotLock } from "./lock.js";
import { encodeMutf7 } from "./mutf7.js";

const SUBSCRIPTIONS = "subscriptions";
const SUBSCRIPTIONS_V2_HEADER = "V\t2\n\n";

/**
 * Can `name` be one level of a Maildir++ folder? Not with a separator, a path part or a control
 * character that would change the layout, not hidden by '~', and not INBOX (the Maildir itself).
 * config/ checks --chats-folder with the same rule.
 */
export function isFolderName(name: string): boolean {
  // eslint-disable-next-line no-control-regex
  return name !== "" && !/[./\u0000-\u001f\u007f]/.test(name) && !name.startsWith("~") && name.toUpperCase() !== "INBOX";
}

/** Refuses names that would change the layout (isFolderName). */
export function assertFolderName(name: string): void {
  if (!isFolderName(name)) throw new BadAddressError(`'${name}' cannot be a Maildir++ folder name`);
}

/** The directory of a folder path ([] is INBOX, the Maildir itself). */
export function folderDir(maildir: string, folder: readonly string[]): string {
  if (folder.length === 0) return maildir;
  for (const name of folder) assertFolderName(name);
  return path.join(maildir, `.${folder.map(encodeMutf7).join(".")}`);
}

/**
 * Makes the folder and its parents (each with maildirfolder) and subscribes them, so the first
 * mail in a new folder shows up in every client. Cheap to call again: callers cache the result.
 */
export async function ensureFolder(maildir: string, folder: readonly string[], options: { dirMode: number; fileMode: number }): Promise<void> {
  for (let depth = 1; depth <= folder.length; depth++) {
    const dir = folderDir(maildir, folder.slice(0, depth));
    for (const sub of ["tmp", "new", "cur"]) await mkdir(path.join(dir, sub), { recursive: true, mode: options.dirMode });
    const marker = await open(path.join(dir, "maildirfolder"), "a", options.fileMode);
    await marker.close();
  }
  if (folder.length > 0) await subscribe(maildir, folder, options.fileMode);
}

/** Adds the folder and its parents to Dovecot's subscriptions file, keeping what is there. */
async function subscribe(maildir: string, folder: readonly string[], fileMode: number): Promise<void> {
  const file = path.join(maildir, SUBSCRIPTIONS);
  const wanted = folder.map((_, i) => folder.slice(0, i + 1).map(encodeMutf7));
  const current = await readSubscriptions(file);
  if (wanted.every((levels) => current.lines.includes(lineOf(levels, current.version)))) return;
  // Dovecot changes the file under its own dotlock (subscriptions.lock); we take the same one.
  await withDovecotLock(`${file}.lock`, async () => {
    const fresh = await readSubscriptions(file);
    const lines = [...fresh.lines];
    for (const levels of wanted) {
      const line = lineOf(levels, fresh.version);
      if (!lines.includes(line)) lines.push(line);
    }
    const tmp = `${file}.xmpp-maildir.tmp`;
    const header = fresh.version === 2 ? SUBSCRIPTIONS_V2_HEADER : "";
    await writeFile(tmp, header + lines.map((l) => `${l}\n`).join(""), { mode: fileMode });
    try {
      await rename(tmp, file);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
  });
}

/** Version 2 separates levels with a tab; version 1 (no header) with the hierarchy separator. */
function lineOf(levels: string[], version: 1 | 2): string {
  return levels.join(version === 2 ? "\t" : ".");
}

async function readSubscriptions(file: string): Promise<{ version: 1 | 2; lines: string[] }> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { version: 2, lines: [] };
    throw err;
  }
  const version = text.startsWith(SUBSCRIPTIONS_V2_HEADER) ? 2 : 1;
  const body = version === 2 ? text.slice(SUBSCRIPTIONS_V2_HEADER.length) : text;
  return { version, lines: body.split("\n").filter((l) => l !== "") };
}
