// A pushed mail's attachments → files the user's XMPP client shows inline: each one uploaded to
// the server's XEP-0363 service (./uploader.ts), then sent in a message of its own whose body is
// the GET URL and which carries the same URL in XEP-0066 jabber:x:oob. That pairing is what
// Conversations (MessageParser: an OOB URL equal to the body marks the message as a file) and
// Dino (http-files plugin: oob url == body) take for a shared file, as they send it themselves.
import xml, { type Element } from "@xmpp/xml";
import { NS_OOB } from "../../namespaces.js";
import { safeFileName } from "./names.js";
import type { Uploader } from "./uploader.js";

/** Each upload costs a slot and a PUT: a mail with more attachments gets a line for the rest. */
export const MAX_ATTACHMENTS = 8;

/** An attachment as mailparser gives it (only what we read). */
export interface MailAttachment {
  readonly filename?: string | undefined;
  readonly contentType: string;
  readonly content: Buffer;
}

export interface SharedAttachment {
  readonly name: string;
  readonly type: string;
  readonly size: number;
  readonly url: string;
}

export interface AttachmentOutcome {
  readonly shared: SharedAttachment[];
  /** One line per file not shared, naming it and why, for the text message. */
  readonly lines: string[];
}

/** Uploads each attachment; never throws for a file. `incomplete` says why none can be uploaded. */
export async function uploadAttachments(
  attachments: readonly MailAttachment[],
  uploader: Uploader | undefined,
  options: { incomplete?: string | undefined } = {},
): Promise<AttachmentOutcome> {
  const shared: SharedAttachment[] = [];
  const lines: string[] = [];
  for (const [i, attachment] of attachments.entries()) {
    const type = safeMediaType(attachment.contentType);
    const name = safeFileName(attachment.filename, type);
    const notShared = (why: string) => lines.push(`Attachment not shared: ${name} (${why})`);
    if (options.incomplete) notShared(options.incomplete);
    else if (!uploader) notShared("no upload service is set up for this bridge");
    else if (i >= MAX_ATTACHMENTS) notShared(`only the first ${MAX_ATTACHMENTS} attachments of a mail are shared; open the mail to see the rest`);
    else {
      const result = await uploader.upload({ name, type, bytes: attachment.content });
      if (result.ok) shared.push({ name, type, size: attachment.content.length, url: result.url });
      else notShared(result.why);
    }
  }
  return { shared, lines };
}

/** One message per shared file: body == the URL, and the URL in jabber:x:oob (XEP-0066 §3). */
export function attachmentMessage(input: { from: string; to: string; type: "chat" | "normal"; id: string; thread: string | undefined; file: SharedAttachment }): Element {
  return xml(
    "message",
    { type: input.type, from: input.from, to: input.to, id: input.id },
    xml("body", {}, input.file.url),
    input.thread ? xml("thread", {}, input.thread) : null,
    xml("x", { xmlns: NS_OOB }, xml("url", {}, input.file.url), xml("desc", {}, input.file.name)),
  );
}

/** type/subtype only; anything odd becomes application/octet-stream (it becomes a header of the PUT). */
export function safeMediaType(type: string | undefined): string {
  const t = type?.split(";")[0]?.trim().toLowerCase();
  return t && /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/.test(t) ? t : "application/octet-stream";
}
