// Shared files (XEP-0363 uploads, fetched by the archive handler with --upload-origins) as mail:
// each fetched file becomes an attachment with its name and type, so the archive keeps it after
// the upload service deletes it; the text part says, for each file, that it is attached or why not.
import type { ArchiveRecord } from "../capture/index.js";

export interface FileAttachment {
  readonly filename: string;
  readonly contentType: string;
  readonly content: Buffer;
}

export interface FileParts {
  /** Lines for the end of the text part; empty when the record has no fetched files. */
  readonly lines: string[];
  readonly attachments: FileAttachment[];
}

/** Long enough for any real file name; a longer one is cut (it is the sender's text). */
const MAX_NAME_CHARS = 120;

export function fileParts(record: ArchiveRecord): FileParts {
  const lines: string[] = [];
  const attachments: FileAttachment[] = [];
  for (const outcome of record.files ?? []) {
    const { url } = outcome.share;
    if ("attached" in outcome) {
      const filename = safeFilename(outcome.attached.name);
      attachments.push({ filename, contentType: outcome.attached.type, content: outcome.attached.bytes });
      lines.push(`Attached: ${filename} (${outcome.attached.bytes.length} bytes), shared as ${url}`);
    } else {
      lines.push(`Not attached: ${url} (${outcome.notAttached})`);
    }
  }
  return { lines, attachments };
}

/** The text part with the file lines under it, after a blank line. */
export function withFileLines(text: string, lines: readonly string[]): string {
  return lines.length === 0 ? text : [text, "", ...lines].join("\n");
}

/** A name a mail client can save under: no path, no control characters, not empty. */
export function safeFilename(name: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = [...name.replace(/[\u0000-\u001f\u007f/\\]/g, "_").trim()].slice(0, MAX_NAME_CHARS).join("");
  return clean === "" || clean === "." || clean === ".." ? "file" : clean;
}
