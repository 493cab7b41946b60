// What chat-over-email clients read from the MIME structure, not only from the top-level header:
//   - Delta Chat reads Chat-Edit (and Chat-Delete, Chat-User-Avatar, Chat-Group-Avatar) only as a
//     "hidden header" on the first part of a top-level multipart/mixed; the same names at the top
//     are dropped (chatmail core src/mimeparser.rs, MimeMessage::from_bytes, is_hidden()). A
//     correction is therefore that shape: multipart/mixed around the usual multipart/alternative
//     (text, then the stanza), which carries the header. Every mail client shows it as before.
//   - RFC 9078 §2: a reaction is a text part with Content-Disposition: reaction, whose content is
//     the emoji; Delta Chat picks the text/plain alternative and reads it from there.
// These work on MailComposer's tree (./composer.ts, bridge/outbound/compose.ts); ./mime-writer.ts
// writes the same shapes directly. With attachments the root is already multipart/mixed (text and
// stanza in an alternative, then the files), and the header goes on that alternative. (Until
// 2026-12-02 it wrapped that mixed content once more, so the files sat inside an alternative,
// where a mail client may show a file instead of the text.)
import type MimeNode from "nodemailer/lib/mime-node/index.js";

/** Puts `headers` on the first part of a top-level multipart/mixed, wrapping the root if needed. */
export function withHiddenHeaders(root: MimeNode, headers: Readonly<Record<string, string>>): void {
  // MimeNode#multipart (the subtype at run time; the typings say boolean) is only set once the
  // headers are built; before that, the Content-Type MailComposer gave the root says what it is.
  const type = /^multipart\/([a-z]+)/i.exec(String(root.getHeader("Content-Type") ?? ""))?.[1]?.toLowerCase();
  const kind = (root.multipart as unknown as string | false | undefined) || type;
  if (kind !== "mixed") {
    // The root keeps every top-level header (From, Subject, Chat-Version…) and becomes the mixed
    // container; its parts move into a new alternative below it.
    const parts = root.childNodes;
    root.childNodes = [];
    const alternative = root.createChild(kind ? `multipart/${kind}` : "multipart/alternative");
    alternative.childNodes = parts;
    for (const part of parts) (part as MimeNode & { parentNode: MimeNode }).parentNode = alternative;
    root.setHeader("Content-Type", "multipart/mixed");
  }
  const first = root.childNodes[0];
  if (first) for (const [key, value] of Object.entries(headers)) first.setHeader(key, value);
}

/** RFC 9078 §2: marks the text/plain part (the first one found) as the reaction. */
export function markReaction(root: MimeNode): void {
  const stack: MimeNode[] = [root];
  while (stack.length > 0) {
    const node = stack.shift()!;
    if (/^text\/plain\b/i.test(String(node.getHeader("Content-Type") ?? ""))) {
      node.setHeader("Content-Disposition", "reaction");
      return;
    }
    stack.push(...node.childNodes);
  }
}
