// The scanner reads the first MAX_READ_BYTES of a mail, enough for its text. Its attachments need
// all of it: a file cut off at that point would be uploaded truncated. This reads the whole mail
// again, up to what the largest attachment allowed can take in base64 (4/3 of it, plus line breaks
// and the rest of the mail), so memory stays bounded by --max-upload-bytes.
import path from "node:path";
import { readHead } from "../../maildir/index.js";
import { findInbox, MAX_READ_BYTES, type NewMail } from "../watch/index.js";

/** Base64 is 4/3 of the bytes, plus CRLF every 76 characters: under 1.4×; 1 MiB for the text and headers. */
export function wholeMailLimit(maxUploadBytes: number): number {
  return Math.ceil(maxUploadBytes * 1.4) + 1024 * 1024;
}

/** The mail's bytes, whole; or why the attachments cannot be shared. */
export async function readWholeMail(mail: NewMail, maxUploadBytes: number): Promise<{ bytes: Buffer } | { incomplete: string }> {
  if (mail.bytes.length < MAX_READ_BYTES) return { bytes: mail.bytes };
  const limit = wholeMailLimit(maxUploadBytes);
  const file = await findInbox(mail.maildir, mail.base);
  if (!file) return { incomplete: "the mail was moved away before its files could be read" };
  const bytes = await readHead(path.join(mail.maildir, file.dir, file.name), limit + 1);
  if (bytes.length > limit) return { incomplete: `the mail is over ${limit} bytes, too large to share its files (max-upload-bytes); open it in a mail client` };
  return { bytes };
}
