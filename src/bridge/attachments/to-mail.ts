// Files the user shares in a message to a mail address → attachments of the mail, so the recipient
// gets the file, not a link that the upload service deletes in a week. The URLs come from the
// user's message (XEP-0066 OOB as Conversations, Gajim and Monal send it; XEP-0385 SIMS and
// XEP-0447 SFS as Dino sends it: src/capture/shares.ts reads all three), and are fetched with the
// archive's fetcher: the same --upload-origins allow-list, --max-upload-bytes (per file and per
// mail) and deadline. A file not fetched never stops the mail: it goes with a line naming the
// file and why.
import type { Element } from "@xmpp/xml";
import { MAX_SHARES, readShares } from "../../capture/index.js";
import type { Fetcher } from "../../fetch/index.js";
import type { Logger } from "../../log/index.js";
import { safeFileName } from "./names.js";
import { safeMediaType } from "./to-xmpp.js";

export interface MailFile {
  readonly filename: string;
  readonly contentType: string;
  readonly content: Buffer;
}

export interface ReplyFiles {
  readonly attachments: MailFile[];
  /** One line per shared file not attached, naming it and why. */
  readonly lines: string[];
  /** URLs now attached: a body that is only such a URL (Conversations) need not repeat it. */
  readonly attachedUrls: ReadonlySet<string>;
}

export async function fetchReplyFiles(stanza: Element, fetcher: Fetcher | undefined, logger: Logger): Promise<ReplyFiles> {
  const attachments: MailFile[] = [];
  const lines: string[] = [];
  const attachedUrls = new Set<string>();
  const shares = readShares(stanza);
  if (shares.length === 0) return { attachments, lines, attachedUrls };
  const deadline = fetcher ? performance.now() + fetcher.policy.timeoutMs : 0;
  let budget = fetcher?.policy.maxBytes ?? 0;
  for (const [i, share] of shares.entries()) {
    const name = safeFileName(share.name ?? lastSegment(share.url), share.mediaType);
    const notAttached = (why: string) => {
      // The URL is a capability: logged by origin only.
      logger.info({ name, origin: originOf(share.url), via: share.via, why }, "shared file not attached to the mail");
      lines.push(`Not attached: ${name} (${why})`);
    };
    if (!fetcher) {
      notAttached("this bridge fetches no shared files (no --upload-origins)");
      continue;
    }
    if (i >= MAX_SHARES) {
      notAttached(`only the first ${MAX_SHARES} files of a message are attached`);
      continue;
    }
    if (share.size !== undefined && share.size > budget) {
      notAttached(`${share.size} bytes announced, over the ${budget}-byte limit (max-upload-bytes)`);
      continue;
    }
    const result = await fetcher.fetch(share.url, { maxBytes: budget, deadline });
    if (!result.ok) {
      notAttached(`${result.reason}: ${result.detail}`);
      continue;
    }
    budget -= result.file.bytes.length;
    const file = { filename: safeFileName(share.name ?? result.file.name, share.mediaType ?? result.file.type), contentType: safeMediaType(share.mediaType ?? result.file.type), content: result.file.bytes };
    logger.info({ name: file.filename, bytes: file.content.length, type: file.contentType, via: share.via }, "shared file attached to the mail");
    attachments.push(file);
    attachedUrls.add(share.url);
  }
  return { attachments, lines, attachedUrls };
}

/** The message's text with each line that is only an attached URL left out, then the lines for files not attached. */
export function replyText(body: string, files: ReplyFiles): string {
  const kept = body.split("\n").filter((line) => !files.attachedUrls.has(line.trim())).join("\n").trim();
  return [kept, files.lines.join("\n")].filter((t) => t !== "").join("\n\n");
}

function lastSegment(url: string): string | undefined {
  try {
    return decodeURIComponent(new URL(url).pathname.split("/").filter((s) => s !== "").at(-1) ?? "");
  } catch {
    return undefined;
  }
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return "(not a URL)";
  }
}
