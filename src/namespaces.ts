// XML namespaces and media types that more than one room uses, written once. Namespaces used in
// one file only stay next to the code that reads them.

/** Our copy protocol between the server modules and the component (docs/protocol.md). */
export const NS_COPY = "urn:xmpp-maildir:copy:0";
/** Version 1 of it: several copies in one IQ (docs/protocol.md, "Batches"). */
export const NS_COPY_BATCH = "urn:xmpp-maildir:copy:1";
/** XEP-0297 Stanza Forwarding. */
export const NS_FORWARD = "urn:xmpp:forward:0";
/** XEP-0203 Delayed Delivery. */
export const NS_DELAY = "urn:xmpp:delay";
/** XEP-0359 Unique and Stable Stanza IDs. */
export const NS_SID = "urn:xmpp:sid:0";
/** RFC 6120 §4.9.1.2: the content namespace of client stanzas, which archives use (as XEP-0313 does). */
export const NS_CLIENT = "jabber:client";
/** XEP-0066 Out of Band Data: links in chats, and the IMAP link in a pushed mail. */
export const NS_OOB = "jabber:x:oob";
/** RFC 3923 §9: the MIME type of the part that holds the original stanza. */
export const XMPP_MEDIA_TYPE = "application/xmpp+xml";
/** XEP-0333 Chat Markers: <markable/> on what the bridge pushes, <displayed/> back from clients. */
export const NS_CHAT_MARKERS = "urn:xmpp:chat-markers:0";
/** XEP-0184 Message Delivery Receipts: <request/> on pushes, <received/> back. */
export const NS_RECEIPTS = "urn:xmpp:receipts";
/** XEP-0030 Service Discovery, info. */
export const NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";
