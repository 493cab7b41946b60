// The one place where failures become XMPP stanza errors (RFC 6120 §8.3). Everything else throws
// typed errors from src/errors.ts and lets this module decide what the sender sees.
import xml, { type Element } from "@xmpp/xml";
import { LmtpError, RefusedError, SmtpError, StorageError, type StanzaErrorCondition, type StanzaErrorType } from "../errors.js";

const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

export interface StanzaErrorSpec {
  readonly type: StanzaErrorType;
  readonly condition: StanzaErrorCondition;
  readonly text: string;
}

export function errorSpecFor(err: unknown): StanzaErrorSpec {
  if (err instanceof RefusedError) return { ...err.stanzaError, text: err.message };
  // A full or read-only disk clears once an admin acts: `wait` tells the sender to keep the
  // message and retry (RFC 6120 §8.3.3.18). Paths stay in our log, not in the reply.
  if (err instanceof StorageError) {
    return err.transient
      ? { type: "wait", condition: "resource-constraint", text: `storage temporarily unavailable (${err.reason})` }
      : { type: "cancel", condition: "internal-server-error", text: `storage failed (${err.reason})` };
  }
  // --deliver lmtp: a 4xx or a lost connection is the LMTP server's "not now" (quota with
  // quota_full_tempfail, a backend down): `wait`, as for a full disk, so the module keeps the copy.
  // A 5xx is its "never" (user unknown, quota without tempfail): the module drops the copy, and
  // the message itself still reaches the user through the server's offline storage
  // (docs/protocol.md, "A refusal"). internal-server-error is one of the conditions both server
  // modules take as a refusal: a user the XMPP server has and the mail server does not is a
  // misconfiguration (RFC 6120 §8.3.3.8). The reply code says which; the full reply is in our log.
  if (err instanceof LmtpError) {
    return err.transient
      ? { type: "wait", condition: "resource-constraint", text: `storage temporarily unavailable (LMTP ${err.reason})` }
      : err.responseCode !== undefined
        ? { type: "cancel", condition: "internal-server-error", text: `the mail server refused the message (LMTP ${err.reason})` }
        : { type: "cancel", condition: "internal-server-error", text: `cannot deliver over LMTP (${err.reason})` };
  }
  // Mail sent from XMPP (src/bridge/outbound): the user sees the SMTP server's own reason.
  if (err instanceof SmtpError) {
    if (err.responseCode === undefined) return { type: "wait", condition: "remote-server-not-found", text: err.message };
    return err.transient
      ? { type: "wait", condition: "remote-server-timeout", text: err.message }
      : { type: "cancel", condition: "not-acceptable", text: err.message };
  }
  return { type: "cancel", condition: "internal-server-error", text: "internal error" };
}

export function errorElement(spec: StanzaErrorSpec): Element {
  return xml(
    "error",
    { type: spec.type },
    xml(spec.condition, { xmlns: NS_STANZAS }),
    xml("text", { xmlns: NS_STANZAS, "xml:lang": "en" }, spec.text),
  );
}

/** An error reply to a message (RFC 6120 §8.3.1): addresses swapped, same id. */
export function messageErrorReply(message: Element, spec: StanzaErrorSpec): Element {
  return xml("message", { type: "error", to: message.attrs.from, from: message.attrs.to, id: message.attrs.id }, errorElement(spec));
}
