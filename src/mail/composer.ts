// The mail through nodemailer's MailComposer: its MIME tree (compile()), our two changes to it
// (./chat-structure.ts), written out by ./serialise.ts. This is how every mail was written before
// ./mime-writer.ts; it stays as the reference that test/unit/mime-writer.test.ts holds the writer
// to byte for byte, and as the fallback for the rare shapes the writer does not take on.
import MailComposer from "nodemailer/lib/mail-composer/index.js";
import type Mail from "nodemailer/lib/mailer/index.js";
import { markReaction, withHiddenHeaders } from "./chat-structure.js";
import type { MailShape, MailSpec } from "./mail-spec.js";
import { serialiseMime } from "./serialise.js";

export function composeMail(spec: MailSpec, shape: MailShape): Buffer {
  const root = new MailComposer(spec as unknown as Mail.Options).compile();
  if (shape.hidden) withHiddenHeaders(root, shape.hidden);
  if (shape.reaction) markReaction(root);
  return serialiseMime(root);
}
