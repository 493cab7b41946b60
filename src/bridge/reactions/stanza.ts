// XEP-0444 Message Reactions on the wire, both ways. §3: a message (type chat in a one-to-one
// conversation) with <reactions id='…'> naming the message reacted to, one <reaction/> per emoji,
// and all of the sender's reactions to it each time (an update replaces the last; none: taken
// back). No body, so a store hint (XEP-0334), as the XEP's own example carries, keeps it in
// offline storage and the archive.
import xml, { type Element } from "@xmpp/xml";
import { parseEmojis } from "./mail-in.js";

export const NS_REACTIONS = "urn:xmpp:reactions:0";
const NS_HINTS = "urn:xmpp:hints";

export function reactionStanza(input: { from: string; to: string; id: string; target: string; emojis: readonly string[] }): Element {
  return xml(
    "message",
    { type: "chat", from: input.from, to: input.to, id: input.id },
    xml("reactions", { xmlns: NS_REACTIONS, id: input.target }, ...input.emojis.map((e) => xml("reaction", {}, e))),
    xml("store", { xmlns: NS_HINTS }),
  );
}

export interface StanzaReaction {
  /** The id of the message reacted to. */
  readonly target: string;
  readonly emojis: readonly string[];
}

/** The XEP-0444 reaction a message carries, or undefined. Emojis bounded as from mail. */
export function readStanzaReaction(stanza: Element): StanzaReaction | undefined {
  const reactions = stanza.getChild("reactions", NS_REACTIONS);
  const target = reactions?.attrs.id as string | undefined;
  if (!reactions || !target) return undefined;
  // Each <reaction/> is one emoji; one with whitespace inside is not (and would split in the mail).
  const emojis = parseEmojis(reactions.getChildren("reaction").map((r) => r.text().trim()).filter((e) => e && !/\s/.test(e)).join(" "));
  return { target, emojis };
}
