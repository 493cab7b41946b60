// XEP-0030 disco#info for the component and the escaped mail addresses at it: says that pushed
// mail may be marked read with XEP-0333 chat markers and XEP-0184 receipts (./read-markers.ts),
// so clients that look before sending them know they are welcome.
import xml, { type Element } from "@xmpp/xml";
import { NS_CHAT_MARKERS, NS_DISCO_INFO, NS_RECEIPTS } from "../namespaces.js";
import { NS_REACTIONS } from "./reactions/index.js";

/** The <query/> of the result, or an item-not-found error for a node we do not have (§3.2). */
export function discoInfo(query: Element, options: { markers: boolean; reactions?: boolean }): Element {
  if (query.attrs.node) return xml("error", { type: "cancel" }, xml("item-not-found", { xmlns: "urn:ietf:params:xml:ns:xmpp-stanzas" }));
  // XEP-0444 §2: reactions are sent on as RFC 9078 mail (./reactions/) when mail can be sent.
  const features = [NS_DISCO_INFO, ...(options.markers ? [NS_CHAT_MARKERS, NS_RECEIPTS] : []), ...(options.reactions ? [NS_REACTIONS] : [])];
  return xml(
    "query",
    { xmlns: NS_DISCO_INFO },
    // XEP-0030 registry: a gateway to SMTP.
    xml("identity", { category: "gateway", type: "smtp", name: "xmpp-maildir" }),
    ...features.map((f) => xml("feature", { var: f })),
  );
}
