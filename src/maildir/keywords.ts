// IMAP keywords in Maildir file names, as Dovecot stores them
// (https://doc.dovecot.org/2.3/admin_manual/mailbox_formats/maildir/#imap-keywords): the info suffix
// ":2,<flags>" lists the standard flags as capitals (RFC 3501 \Seen is "S") and keywords as the
// letters a–z, each mapped to a name by the folder's dovecot-keywords file ("0 $XMPP" is "a").
// Letters are assigned per folder, at the first free index; Dovecot changes that file only while it
// holds dovecot-uidlist.lock (maildir-keywords.c), so we add ours under the same lock.
import { readFile, rename, stat, unlink, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { withDovecotLock } from "./lock.js";

const KEYWORDS_FILE = "dovecot-keywords";
/** Dovecot's MAILDIR_MAX_KEYWORDS: one letter each, a to z. */
export const MAX_KEYWORDS = 26;

export interface KeywordLetters {
  /** The letters for the keywords that have (or now got) one. */
  readonly letters: string;
  /** Keywords left out because the folder already uses all 26 letters for others. */
  readonly dropped: readonly string[];
}

export interface KeywordMap {
  lettersFor(folderDir: string, keywords: readonly string[]): Promise<KeywordLetters>;
  /** Forget what is known about a folder (it was created again). */
  forget(folderDir: string): void;
}

export function createKeywordMap(options: { fileMode: number }): KeywordMap {
  /** Indices never change once assigned (Dovecot only appends), so a known name needs no I/O. */
  const known = new Map<string, Map<string, number>>();

  async function assign(folderDir: string, wanted: readonly string[]): Promise<Map<string, number>> {
    const file = path.join(folderDir, KEYWORDS_FILE);
    return withDovecotLock(path.join(folderDir, "dovecot-uidlist.lock"), async () => {
      const { names, mtimeMs } = await readKeywords(file);
      const missing = wanted.filter((k) => !names.has(k));
      if (missing.length === 0) return names;
      const used = new Set(names.values());
      for (const keyword of missing) {
        let index = 0;
        while (used.has(index)) index++;
        if (index >= MAX_KEYWORDS) break;
        names.set(keyword, index);
        used.add(index);
      }
      const text = [...names].sort((a, b) => a[1] - b[1]).map(([name, i]) => `${i} ${name}\n`).join("");
      const tmp = `${file}.xmpp-maildir.tmp`;
      await writeFile(tmp, text, { mode: options.fileMode });
      // Dovecot re-reads the file only when its mtime (in whole seconds) changes, so the new
      // mtime must be a later second than the old one (as maildir_keywords_write_fd ensures).
      const seconds = Math.max(Math.floor(Date.now() / 1000), Math.floor(mtimeMs / 1000) + 1);
      await utimes(tmp, seconds, seconds);
      try {
        await rename(tmp, file);
      } catch (err) {
        await unlink(tmp).catch(() => undefined);
        throw err;
      }
      return names;
    });
  }

  /** A folder's file being read or changed now: a burst of first mails to it waits for one. */
  const busy = new Map<string, Promise<Map<string, number>>>();

  async function refresh(folderDir: string, keywords: readonly string[]): Promise<Map<string, number>> {
    const read = await readKeywords(path.join(folderDir, KEYWORDS_FILE));
    const names = keywords.every((k) => read.names.has(k)) ? read.names : await assign(folderDir, keywords);
    known.set(folderDir, names);
    return names;
  }

  const missing = (names: Map<string, number> | undefined, keywords: readonly string[]) => !names || keywords.some((k) => !names.has(k));

  return {
    async lettersFor(folderDir, keywords) {
      if (keywords.length === 0) return { letters: "", dropped: [] };
      let names = known.get(folderDir);
      const running = missing(names, keywords) ? busy.get(folderDir) : undefined;
      if (running) {
        // Without this, hundreds of concurrent first mails (an import) would each take the lock in
        // turn, and the last ones time out on it.
        await running.catch(() => undefined);
        names = known.get(folderDir);
      }
      if (missing(names, keywords)) {
        const work = refresh(folderDir, keywords);
        busy.set(folderDir, work);
        try {
          names = await work;
        } finally {
          if (busy.get(folderDir) === work) busy.delete(folderDir);
        }
      }
      const indices = keywords.map((k) => names!.get(k));
      return {
        letters: [...new Set(indices.filter((i): i is number => i !== undefined))].sort((a, b) => a - b).map(letterOf).join(""),
        dropped: keywords.filter((_, i) => indices[i] === undefined),
      };
    },
    forget(folderDir) {
      known.delete(folderDir);
    },
  };
}

function letterOf(index: number): string {
  return String.fromCharCode(0x61 + index);
}

async function readKeywords(file: string): Promise<{ names: Map<string, number>; mtimeMs: number }> {
  const names = new Map<string, number>();
  let text: string;
  let mtimeMs = 0;
  try {
    [text, mtimeMs] = await Promise.all([readFile(file, "utf8"), stat(file).then((s) => s.mtimeMs)]);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { names, mtimeMs };
    throw err;
  }
  // maildir_keywords_sync(): "<index> <name>" per line; malformed lines and repeats are ignored.
  for (const line of text.split("\n")) {
    const m = /^(\d+) (.+)$/.exec(line);
    if (!m) continue;
    const index = Number(m[1]);
    if (index < MAX_KEYWORDS && !names.has(m[2]!) && ![...names.values()].includes(index)) names.set(m[2]!, index);
  }
  return { names, mtimeMs };
}

/**
 * The Maildir info suffix for these flags (https://cr.yp.to/proto/maildir.html: "2," then the
 * flags in ASCII order, so capitals before keyword letters), or "" for none.
 */
export function infoSuffix(flags: { seen: boolean; letters: string }): string {
  const all = `${flags.seen ? "S" : ""}${flags.letters}`;
  return all ? `:2,${all}` : "";
}

/** Merges flag letters (standard capitals and keyword letters) in ASCII order, without repeats. */
export function mergeFlags(...sets: string[]): string {
  return [...new Set(sets.join(""))].sort().join("");
}
