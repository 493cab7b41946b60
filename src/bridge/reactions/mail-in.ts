// Is this mail an RFC 9078 reaction, and to what? As Delta Chat sends one (chatmail core
// src/reaction.rs send_reaction and src/mimefactory.rs): a text/plain part with
// `Content-Disposition: reaction` whose content is the emoji (empty: the reaction was taken back),
// `In-Reply-To` the Message-ID of the message it reacts to, no footer. Delta Chat reads it the same
// way (src/mimeparser.rs: a text part with that disposition, wherever it sits in the structure).
import { simpleParser } from "mailparser";
import { firstAddress } from "../../mail/index.js";
import { normalizeAddress } from "../notify/index.js";

/** As the archive side takes from XEP-0444 (src/capture/chat.ts): more is abuse, not a person. */
const MAX_EMOJIS = 20;
/** Long enough for any emoji ZWJ sequence, short enough to be one (Delta Chat: under 30 bytes). */
const MAX_EMOJI_CHARS = 32;
/** Cheap test before a full parse: nearly every mail is not a reaction. */
const REACTION_DISPOSITION = /^content-disposition:[ \t]*reaction\b/im;

export interface ReactionMail {
  /** The From address (domain lower-cased), or undefined when it has none we can parse. */
  readonly fromAddress: string | undefined;
  /** The Message-ID it reacts to, with angle brackets; undefined when the mail names none. */
  readonly inReplyTo: string | undefined;
  /** The emojis, in order, no duplicates; none: the sender took their reaction back. */
  readonly emojis: readonly string[];
}

/** The reaction this mail is, or undefined when it is not one (then it is pushed as mail). */
export async function readReactionMail(bytes: Buffer): Promise<ReactionMail | undefined> {
  if (!REACTION_DISPOSITION.test(bytes.toString("latin1"))) return undefined;
  const mail = await simpleParser(bytes, { skipImageLinks: true, skipTextToHtml: true });
  // mailparser files a part with a disposition it does not know under attachments.
  const part = mail.attachments.find((a) => a.contentDisposition === "reaction" && /^text\/plain\b/i.test(a.contentType));
  // A reaction with text beside it is a message that happens to carry one: push it as mail.
  if (!part || (mail.text ?? "").trim() !== "") return undefined;
  const from = firstAddress(mail.from);
  return {
    fromAddress: from?.address ? normalizeAddress(from.address) : undefined,
    inReplyTo: mail.inReplyTo?.trim().split(/\s+/)[0],
    emojis: parseEmojis(part.content.toString("utf8")),
  };
}

/** The reaction part's text → emojis: up to a signature line ("-- "), split on whitespace. */
export function parseEmojis(text: string): string[] {
  const body = text.split(/\r?\n-- \r?\n/)[0] ?? "";
  const emojis: string[] = [];
  for (const token of body.split(/\s+/)) {
    if (token && [...token].length <= MAX_EMOJI_CHARS && !emojis.includes(token)) emojis.push(token);
    if (emojis.length >= MAX_EMOJIS) break;
  }
  return emojis;
}
