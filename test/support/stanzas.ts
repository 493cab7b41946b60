// Builds stanzas the way they arrive over the component stream, by parsing XML text with the
// same parser xmpp.js uses, so tests exercise real elements rather than hand-built objects.
import xml, { type Element } from "@xmpp/xml";

export function parseStanza(text: string): Element {
  const parser = new xml.Parser();
  let root: Element | undefined;
  let error: Error | undefined;
  parser.on("element", (el: Element) => (root = el));
  parser.on("error", (err: Error) => (error = err));
  // Wrap in a stream so the stanza gets the stream's default namespace, as on the wire.
  parser.write(`<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams'>${text}`);
  if (error) throw error;
  if (!root) throw new Error(`no element parsed from ${text}`);
  return root;
}

export function copyIq(opts: { from?: string; reason?: string; inner: string; stamp?: string }): Element {
  const stamp = opts.stamp ?? "2026-01-02T03:04:05Z";
  return parseStanza(
    `<iq type='set' id='c1' from='${opts.from ?? "example.org"}' to='archive.example.org'>` +
      `<copy xmlns='urn:xmpp-maildir:copy:0' reason='${opts.reason ?? "offline"}'>` +
      `<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='${stamp}'/>${opts.inner}</forwarded>` +
      `</copy></iq>`,
  );
}
