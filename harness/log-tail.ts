/**
 * Reading the end of a server log for error messages.
 */
import { readFile } from "node:fs/promises";

/** Enough to show a startup failure and what led to it. */
export const LOG_TAIL_LINES = 40;

/** The last `lines` lines of a text file, or a note saying why it could not be read. */
export async function logTail(file: string, lines: number = LOG_TAIL_LINES): Promise<string> {
  try {
    const text = await readFile(file, "utf8");
    return text.split("\n").slice(-lines - 1).join("\n");
  } catch (err) {
    return `(cannot read ${file}: ${(err as Error).message})`;
  }
}

/** Text appended to a log file after byte `offset` (a restart appends to the same file). */
export async function logSince(file: string, offset: number): Promise<string> {
  try {
    return (await readFile(file)).subarray(offset).toString("utf8");
  } catch {
    return "";
  }
}
