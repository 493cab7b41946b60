// End-to-end encrypted messages, recognised and named, never decrypted: the archive keeps the
// stanza as it came and tells the reader what it is (README, "What gets archived").
//   XEP-0384 OMEMO: <encrypted xmlns='eu.siacs.conversations.axolotl'> (0.3, what Conversations,
//     Gajim, Dino and Monal send) and <encrypted xmlns='urn:xmpp:omemo:2'> (0.8+), each with a
//     <header/> of per-device keys and, for a message, a <payload/>;
//   XEP-0373 OpenPGP for XMPP: <openpgp xmlns='urn:xmpp:openpgp:0'>BASE64</openpgp>;
//   XEP-0027 legacy OpenPGP: <x xmlns='jabber:x:encrypted'>ASCII armour body</x>;
//   XEP-0380 <encryption xmlns='urn:xmpp:eme:0' namespace='…' name='…'/>: a hint that names the
//     scheme, the only sign of one carried in the body itself (OTR, XEP-0364).
// Pure: no I/O.
import type { Element } from "@xmpp/xml";

export const NS_OMEMO_LEGACY = "eu.siacs.conversations.axolotl";
export const NS_OMEMO_2 = "urn:xmpp:omemo:2";
export const NS_OX = "urn:xmpp:openpgp:0";
export const NS_PGP_LEGACY = "jabber:x:encrypted";
export const NS_EME = "urn:xmpp:eme:0";

export interface Encryption {
  /** The X-XMPP-Encryption header value: OMEMO, OMEMO:2, OX, PGP, OTR, or the hinted namespace. */
  readonly scheme: string;
  /** What the reader is told, in the Subject: "OMEMO", "OpenPGP for XMPP", … */
  readonly name: string;
  /**
   * Whether the stanza holds an encrypted message. An OMEMO <encrypted/> without a <payload/> is a
   * key transport element (XEP-0384 §4.6: session set-up and heartbeats), or a broken one; an
   * empty <openpgp/> or <x/> carries nothing either.
   */
  readonly payload: boolean;
}

interface Scheme {
  readonly element: string;
  readonly ns: string;
  readonly scheme: string;
  readonly name: string;
  /** Where the ciphertext is: a <payload/> child (OMEMO) or the element's own text. */
  readonly payload: (el: Element) => boolean;
}

const omemoPayload = (el: Element) => (el.getChildText("payload") ?? "").trim() !== "";
const ownText = (el: Element) => el.text().trim() !== "";

const SCHEMES: readonly Scheme[] = [
  { element: "encrypted", ns: NS_OMEMO_LEGACY, scheme: "OMEMO", name: "OMEMO", payload: omemoPayload },
  { element: "encrypted", ns: NS_OMEMO_2, scheme: "OMEMO:2", name: "OMEMO 2", payload: omemoPayload },
  { element: "openpgp", ns: NS_OX, scheme: "OX", name: "OpenPGP for XMPP", payload: ownText },
  { element: "x", ns: NS_PGP_LEGACY, scheme: "PGP", name: "legacy OpenPGP", payload: ownText },
];

/** XEP-0380 §4: the namespaces a hint may name, and how to name them when it has no name attribute. */
const HINTED: Readonly<Record<string, { scheme: string; name: string }>> = {
  "urn:xmpp:otr:0": { scheme: "OTR", name: "OTR" },
  [NS_PGP_LEGACY]: { scheme: "PGP", name: "legacy OpenPGP" },
  [NS_OX]: { scheme: "OX", name: "OpenPGP for XMPP" },
  [NS_OMEMO_LEGACY]: { scheme: "OMEMO", name: "OMEMO" },
  "urn:xmpp:omemo:1": { scheme: "OMEMO:1", name: "OMEMO 1" },
  [NS_OMEMO_2]: { scheme: "OMEMO:2", name: "OMEMO 2" },
};

/** A hinted name or namespace is stranger's text in a Subject and a header: short, printable. */
const MAX_HINT_CHARS = 64;

/** The encryption a message uses, or undefined for a message in the clear. */
export function readEncryption(message: Element): Encryption | undefined {
  for (const s of SCHEMES) {
    const el = message.getChild(s.element, s.ns);
    if (el) return { scheme: s.scheme, name: s.name, payload: s.payload(el) };
  }
  // Only a hint: the ciphertext is in the body (OTR), which is all we have to keep.
  const hint = message.getChild("encryption", NS_EME);
  const ns = printable(hint?.attrs.namespace);
  if (!hint || !ns) return undefined;
  const known = HINTED[ns];
  return { scheme: known?.scheme ?? ns, name: known?.name ?? (printable(hint.attrs.name) || ns), payload: true };
}

function printable(value: unknown): string {
  return typeof value === "string" ? value.replace(/[^\x21-\x7e ]+/g, "").trim().slice(0, MAX_HINT_CHARS) : "";
}
