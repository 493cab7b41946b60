import type { Jid } from "../jid.js";
import type { ChatFacts } from "./chat.js";
import type { Encryption } from "./encryption.js";
import type { ShareOutcome, SharedFile } from "./shares.js";

/**
 * Why a message is archived: stored offline, a `normal` message, or sent to user@component; with
 * chat history (docs/chat-history.md), a chat delivered live (`chat`), one a local user sent
 * (`sent`), or a room message to a local occupant (`groupchat`); or, for `xmpp-maildir replay
 * --to-maildir` and `import`, taken from an existing archive or history.
 */
export type CaptureReason = "offline" | "normal" | "direct" | "chat" | "sent" | "groupchat" | "replay" | "import";

/** Where a message goes and how it is flagged. Capture decides; maildir/ only carries it out. */
export interface Placement {
  /** IMAP folder path below INBOX's level, e.g. ["Chats"] or ["Chats", "room"]; [] is INBOX. */
  readonly folder: readonly string[];
  /** Delivered as read (RFC 3501 \Seen: the Maildir "S" flag). */
  readonly seen: boolean;
  /** IMAP keywords (RFC 3501 §2.3.2), such as $XMPP. */
  readonly keywords: readonly string[];
}

export const INBOX: Placement = { folder: [], seen: false, keywords: [] };

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
  readonly type: "chat" | "normal" | "groupchat";
  /** "out" when the owner sent it (reason `sent`), else "in". */
  readonly direction: "in" | "out";
  readonly body: string;
  readonly subject: string | undefined;
  readonly thread: string | undefined;
  readonly ids: MessageIds;
  /** XEP-0203 delay if the stanza carried one, else the time it reached us. */
  readonly time: Date;
  /** The original stanza as a standalone XML document, namespace included. */
  readonly xml: string;
  readonly reason: CaptureReason;
  /** Corrections, retractions, links, HTML and embedded data. */
  readonly chat: ChatFacts;
  /** End-to-end encryption (capture/encryption.ts): the body, if any, is only a fallback sentence. */
  readonly encryption?: Encryption;
  readonly placement: Placement;
  /** Files shared by URL (capture/shares.ts); absent when none. */
  readonly shares?: readonly SharedFile[];
  /** With --upload-origins: what the archive handler fetched of `shares`, for the mail. */
  readonly files?: readonly ShareOutcome[];
}

export interface MessageIds {
  /** XEP-0359 origin-id, set by the sending client. */
  readonly originId: string | undefined;
  /** XEP-0359 stanza-id and the entity that assigned it. */
  readonly stanzaId: { readonly id: string; readonly by: string } | undefined;
  /**
   * Every XEP-0359 stanza-id the stanza carries, when it has more than one: a room's and the
   * user's own server's (ejabberd's MAM adds its own to a message from a room on another service).
   * Replies and moderation name the room's.
   */
  readonly stanzaIds?: ReadonlyArray<{ readonly id: string; readonly by: string }>;
  /** The stanza's own id attribute. */
  readonly id: string | undefined;
}

/**
 * A receipt (XEP-0184) or a displayed marker (XEP-0333) the owner sent: no mail, but the original
 * in the owner's archive gets a flag.
 */
export interface MarkRecord {
  readonly owner: Jid;
  /** Who sent the original (bare): the marker's recipient. */
  readonly peer: Jid;
  /** The id the marker refers to. */
  readonly id: string;
  readonly seen: boolean;
  readonly keywords: readonly string[];
}

/** What capture decided for one inbound stanza. */
export type CaptureResult =
  | { readonly kind: "archive"; readonly record: ArchiveRecord }
  | { readonly kind: "mark"; readonly mark: MarkRecord }
  /** Nothing to store and nothing to complain about (chat states, receipts, errors, headlines). */
  | { readonly kind: "skip"; readonly reason: string };
