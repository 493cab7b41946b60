// Copy protocol v1 (urn:xmpp-maildir:copy:1, docs/protocol.md "Batches"): one IQ carries up to 64
// copies, each with its own id, and the result settles each of them. A copy of a batch is handed
// to the same code as a v0 copy, as the v0 IQ it would have been (the copy's id as the IQ id):
// the dedupe key (IQ from, copy id) is then the one v0 uses, so a copy sent singly before an
// upgrade and again in a batch after it (or the other way round) is stored once.
import xml, { type Element } from "@xmpp/xml";
import { NS_COPY, NS_COPY_BATCH } from "../namespaces.js";
import { RefusedError } from "../errors.js";
import { parseJid } from "../jid.js";

/** The most copies in one batch (the ejabberd module sends up to its window, 64 by default; Prosody batches of 16). */
export const MAX_BATCH_COPIES = 64;
/**
 * The most bytes of copies (text and attribute values, UTF-8) in one batch. A batch is held in
 * memory until its last copy is stored, so this bounds what one IQ can pin. Far above what the
 * modules send: the Prosody module stops adding copies at 1 MiB, and ejabberd's 64 copies at its
 * default c2s max_stanza_size (256 KiB) come to 16 MiB.
 */
export const MAX_BATCH_BYTES = 32 * 1024 * 1024;

/** Bytes of text and attribute values under `el`, without serialising it; stops once past `limit`. */
function contentBytes(el: Element, limit: number): number {
  let total = 0;
  const stack: Element[] = [el];
  while (stack.length > 0 && total <= limit) {
    const node = stack.pop()!;
    for (const value of Object.values(node.attrs as Record<string, unknown>)) if (typeof value === "string") total += Buffer.byteLength(value);
    for (const child of node.children) {
      if (typeof child === "string") total += Buffer.byteLength(child);
      else stack.push(child);
    }
  }
  return total;
}

function badBatch(text: string): RefusedError {
  return new RefusedError(text, { type: "modify", condition: "bad-request" });
}

/**
 * The copies of a batch, each as the v0 IQ it stands for, or a RefusedError for the whole batch:
 * a sender that is not the users' domain (not-allowed), or a malformed <copies/> (bad-request).
 */
export function splitBatch(iq: Element, userDomain: string, maxBytes = MAX_BATCH_BYTES): Element[] {
  const sender = parseJid(iq.attrs.from);
  // As for a v0 copy (src/capture/classify.ts): only the server itself vouches for its users.
  if (!sender || sender.local || sender.resource || sender.domain !== userDomain) {
    throw new RefusedError(`batch from '${iq.attrs.from ?? ""}' refused: only ${userDomain} may send copies`, { type: "cancel", condition: "not-allowed" });
  }
  const copies = iq.getChild("copies", NS_COPY_BATCH);
  if (!copies) throw badBatch("no <copies/> element");
  const children = copies.getChildElements();
  if (children.length === 0) throw badBatch("a batch without copies");
  if (children.length > MAX_BATCH_COPIES) throw badBatch(`a batch of ${children.length} copies; at most ${MAX_BATCH_COPIES}`);
  if (contentBytes(copies, maxBytes) > maxBytes) {
    throw new RefusedError(`a batch of more than ${maxBytes} bytes of copies; send fewer copies per batch`, { type: "modify", condition: "policy-violation" });
  }
  const seen = new Set<string>();
  return children.map((copy, i) => {
    if (copy.name !== "copy" || (copy.attrs.xmlns !== undefined && copy.attrs.xmlns !== NS_COPY_BATCH)) throw badBatch(`element ${i + 1} of the batch is <${copy.name}/>, not <copy/>`);
    const id: unknown = copy.attrs.id;
    if (typeof id !== "string" || id === "") throw badBatch(`copy ${i + 1} of the batch has no id`);
    if (seen.has(id)) throw badBatch(`copy id '${id}' appears twice in the batch`);
    seen.add(id);
    const attrs: Record<string, string> = { ...(copy.attrs as Record<string, string>), xmlns: NS_COPY };
    delete attrs.id;
    const single = new xml.Element("copy", attrs);
    single.children = copy.children;
    return xml("iq", { type: "set", id, from: iq.attrs.from, to: iq.attrs.to }, single);
  });
}

/** The result's <copies/>: each copy's id, with its error element when it was not confirmed. */
export function batchResult(answers: ReadonlyArray<{ readonly id: string; readonly answer: Element | true }>): Element {
  return xml(
    "copies",
    { xmlns: NS_COPY_BATCH },
    ...answers.map(({ id, answer }) => (answer === true ? xml("copy", { id }) : xml("copy", { id }, answer))),
  );
}
