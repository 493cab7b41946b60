import type { Jid } from "../jid.js";

/**
 * Why a message is archived: stored offline, a `normal` message, or sent to user@component; or,
 * for `xmpp-maildir replay --to-maildir` and `import`, taken from an existing archive or history.
 */
export type CaptureReason = "offline" | "normal" | "direct" | "replay" | "import";

/**
 * One message to archive, as plain data. This is the only thing capture/ hands to mail/ and the
 * service: the original stanza travels along as `xml`, everything else is parsed from it.
 */
export interface ArchiveRecord {
  /** Whose mailbox it goes into (bare). */
  readonly owner: Jid;
  /** The original sender and recipient, with resources where the stanza had them. */
  readonly from: Jid;
  readonly to: Jid;
  readonly type: "chat" | "normal";
  readonly body: string;
  readonly subject: string | undefined;
  readonly thread: string | undefined;
  readonly ids: MessageIds;
  /** XEP-0203 delay if the stanza carried one, else the time it reached us. */
  readonly time: Date;
  /** The original stanza as a standalone XML document, namespace included. */
  readonly xml: string;
  readonly reason: CaptureReason;
}

export interface MessageIds {
  /** XEP-0359 origin-id, set by the sending client. */
  readonly originId: string | undefined;
  /** XEP-0359 stanza-id and the entity that assigned it. */
  readonly stanzaId: { readonly id: string; readonly by: string } | undefined;
  /** The stanza's own id attribute. */
  readonly id: string | undefined;
}

/** What capture decided for one inbound stanza. */
export type CaptureResult =
  | { readonly kind: "archive"; readonly record: ArchiveRecord }
  /** Nothing to store and nothing to complain about (chat states, receipts, errors, headlines). */
  | { readonly kind: "skip"; readonly reason: string };
