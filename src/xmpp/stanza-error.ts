// The one place where failures become XMPP stanza errors (RFC 6120 §8.3). Everything else throws
// typed errors from src/errors.ts and lets this module decide what the sender sees.
import xml, { type Element } from "@xmpp/xml";
import { RefusedError, SmtpError, StorageError, type StanzaErrorCondition, type StanzaErrorType } from "../errors.js";

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
  // Mail sent from XMPP (src/outbound): the user sees the SMTP server's own reason.
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
