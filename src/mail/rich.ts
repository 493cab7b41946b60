// Rich chat content as mail parts: the links a message shares (XEP-0066, XEP-0385, XEP-0447,
// i.e. XEP-0363 uploads) listed under the text, XHTML-IM as a text/html alternative, and XEP-0231
// data and data: images as real attachments (RFC 2392 Content-IDs, so cid: in the HTML resolves).
import type { ArchiveRecord, EmbeddedData } from "../capture/index.js";

export interface Attachment {
  readonly cid: string;
  readonly contentType: string;
  readonly content: Buffer;
  readonly filename: string;
}

export interface RichParts {
  readonly text: string;
  readonly html: string | undefined;
  readonly attachments: Attachment[];
}

/** What a retraction without a fallback body says in a mail client. */
export const RETRACTED_TEXT = "(This message retracts an earlier one.)";

export function richParts(record: ArchiveRecord, options: { maxAttachmentBytes: number }): RichParts {
  const { chat } = record;
  const notes: string[] = [];
  const attachments: Attachment[] = [];
  for (const data of chat.data) {
    const size = decodedSize(data.base64);
    if (size > options.maxAttachmentBytes) {
      notes.push(`(${data.contentType} of ${size} bytes not attached: over the ${options.maxAttachmentBytes}-byte limit; it is in the XMPP part)`);
      continue;
    }
    attachments.push(toAttachment(data));
  }
  let text = record.body === "" && chat.retracts ? RETRACTED_TEXT : record.body;
  const links = chat.links.filter((l) => !record.body.includes(l.url));
  if (links.length > 0 || notes.length > 0) {
    const lines = links.map((l) => (l.description ? `${l.url} (${l.description})` : l.url));
    text = [text, ...(lines.length ? ["", "Links:", ...lines] : []), ...(notes.length ? ["", ...notes] : [])].join("\n");
  }
  const html = chat.html
    ? `<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>${chat.html.html}</body></html>`
    : undefined;
  return { text, html, attachments };
}

/** RFC 4648 §4: 3 bytes per 4 characters, minus the padding. */
function decodedSize(base64: string): number {
  const padding = base64.endsWith("==") ? 2 : base64.endsWith("=") ? 1 : 0;
  return Math.floor((base64.length * 3) / 4) - padding;
}

const EXTENSIONS: Record<string, string> = { "image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp", "image/svg+xml": "svg" };

function toAttachment(data: EmbeddedData): Attachment {
  const local = data.cid.split("@")[0]?.replace(/[^A-Za-z0-9+_-]/g, "_").slice(0, 60) || "data";
  return {
    // Stanza text in a header: nothing that could end the header or the angle brackets.
    // eslint-disable-next-line no-control-regex
    cid: data.cid.replace(/[\u0000-\u0020\u007f<>]/g, ""),
    contentType: data.contentType,
    content: Buffer.from(data.base64, "base64"),
    filename: `${local}.${EXTENSIONS[data.contentType] ?? "bin"}`,
  };
}
