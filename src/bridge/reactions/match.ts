// Which message of the user's a reaction is for, in one conversation only. A reaction from mail
// names a Message-ID; it applies to a mail the user received from that sender (a push record,
// ../state.ts) or to a message the user sent to them (./links.ts). A reaction from XMPP names a
// stanza id; it applies to a message pushed from that escaped JID or sent to it. A Message-ID or
// id of another conversation is "forged": never applied (RFC 9078 §3 leaves the check to the
// receiver; Delta Chat applies a reaction only within its chat).
import type { PushedMail } from "../state.js";
import type { SentLinks } from "./links.js";

export type Match =
  /** `id` is the XMPP id, `messageId` the mail's: the same message. */
  | { readonly found: "yes"; readonly id: string; readonly messageId: string; readonly direction: "received" | "sent" }
  /** The id names a message of another conversation. */
  | { readonly found: "other-conversation"; readonly peer: string }
  /** Never pushed or sent, or long forgotten. */
  | { readonly found: "no" };

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

export function matchByMessageId(input: { pushed: PushedMail | undefined; sent: SentLinks; user: string; peer: string; messageId: string }): Match {
  // The first record of the mail: its text message (its attachments follow it, ../notify/push.ts).
  const received = input.pushed?.list(input.user).find((r) => r.messageId === input.messageId);
  const sent = input.sent.byMessageId(input.user, input.messageId);
  if (received && same(received.peer, input.peer)) return { found: "yes", id: received.id, messageId: input.messageId, direction: "received" };
  if (sent && same(sent.peer, input.peer)) return { found: "yes", id: sent.ids[0] ?? "", messageId: input.messageId, direction: "sent" };
  const other = received?.peer ?? sent?.peer;
  return other ? { found: "other-conversation", peer: other } : { found: "no" };
}

export function matchByStanzaId(input: { pushed: PushedMail | undefined; sent: SentLinks; user: string; peer: string; id: string }): Match {
  const received = input.pushed?.list(input.user).findLast((r) => r.id === input.id);
  const sent = input.sent.byStanzaId(input.user, input.id);
  if (received?.messageId && same(received.peer, input.peer)) return { found: "yes", id: input.id, messageId: received.messageId, direction: "received" };
  if (sent && same(sent.peer, input.peer)) return { found: "yes", id: input.id, messageId: sent.messageId, direction: "sent" };
  const other = received?.peer ?? sent?.peer;
  return other && !same(other, input.peer) ? { found: "other-conversation", peer: other } : { found: "no" };
}
