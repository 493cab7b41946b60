// Adding flags to a message already in a folder, the way Dovecot does it: the file moves from
// new/<name> to cur/<name>:2,<flags>, or from cur/<name>:2,<old> to cur/<name>:2,<old+new>
// (Maildir spec, "info"). rename(2) is atomic, and the unique name before ':' never changes, so
// Dovecot keeps the message's UID (dovecot-uidlist is keyed by that name). Dovecot may rename the
// same file at the same moment (a client changed its flags, or it moved new/ to cur/): our rename
// then fails with ENOENT, and we look for the file under its new name and try again.
import { readdir, rename, stat } from "node:fs/promises";
import path from "node:path";
import { mergeFlags, type KeywordMap } from "./keywords.js";

/** Each retry follows a rename by Dovecot; more than a few in a row means the file is gone. */
const RENAME_ATTEMPTS = 4;

export type FlagResult = "updated" | "unchanged" | "missing";

export interface FlagChange {
  readonly seen: boolean;
  readonly keywords: readonly string[];
}

/**
 * Sets flags on the message `base` in `folderDir`. `hint` is the name it was last seen under
 * ("new/<base>" or "cur/<base>:2,…"), tried before listing cur/.
 */
export async function addFlags(keywordMap: KeywordMap, folderDir: string, base: string, change: FlagChange, hint?: string): Promise<{ result: FlagResult; name: string | undefined }> {
  const { letters } = await keywordMap.lettersFor(folderDir, change.keywords);
  const wanted = mergeFlags(change.seen ? "S" : "", letters);
  let candidate = hint;
  for (let attempt = 0; attempt < RENAME_ATTEMPTS; attempt++) {
    const current = (candidate && (await exists(path.join(folderDir, candidate))) ? candidate : undefined) ?? (await locate(folderDir, base));
    if (!current) return { result: "missing", name: undefined };
    const flags = current.startsWith("cur/") ? (current.split(":2,")[1] ?? "") : "";
    const merged = mergeFlags(flags, wanted);
    if (current.startsWith("cur/") && merged === mergeFlags(flags)) return { result: "unchanged", name: current };
    const next = `cur/${base}:2,${merged}`;
    try {
      await rename(path.join(folderDir, current), path.join(folderDir, next));
      return { result: "updated", name: next };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      candidate = undefined;
    }
  }
  return { result: "missing", name: undefined };
}

/** new/<base>, else the one cur/<base>:… (a listing of cur/: its cost grows with the folder). */
async function locate(folderDir: string, base: string): Promise<string | undefined> {
  if (await exists(path.join(folderDir, "new", base))) return `new/${base}`;
  let names: string[];
  try {
    names = await readdir(path.join(folderDir, "cur"));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  const found = names.find((n) => n === base || n.startsWith(`${base}:`));
  return found ? `cur/${found}` : undefined;
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}
