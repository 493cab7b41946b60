// Where an archived message goes and how it is flagged (docs/chat-history.md):
//   offline, normal, direct → INBOX, unseen, as before chat history existed;
//   chat (delivered live), sent → the chats folder, seen (the user saw it in their chat client);
//   groupchat → <chats folder>.<room>, seen.
// Keywords (RFC 3501 §2.3.2) let clients and Sieve filter: $XMPP on everything, then the type and
// how it arrived.
import type { Jid } from "../jid.js";
import { INBOX, type CaptureReason, type Placement } from "./record.js";

export const KEYWORDS = {
  xmpp: "$XMPP",
  chat: "$XMPPChat",
  normal: "$XMPPNormal",
  offline: "$XMPPOffline",
  groupchat: "$XMPPGroupChat",
  /** End-to-end encrypted (capture/encryption.ts): only the user's XMPP apps can read it. */
  encrypted: "$XMPPEncrypted",
} as const;

/** RFC 3503 §3.1: "$MDNSent" says a disposition notification was sent for this message. */
export const MARK_KEYWORDS = { mdnSent: "$MDNSent" } as const;

export interface PlacementSettings {
  /** The chats folder's IMAP name (one level). */
  readonly chatsFolder: string;
  readonly keywords: boolean;
}

export function placementFor(input: { reason: CaptureReason; type: string; room?: Jid | undefined; userDomain: string; encrypted?: boolean }, settings: PlacementSettings): Placement {
  const { reason, type } = input;
  const keywords = settings.keywords
    ? [
        KEYWORDS.xmpp,
        type === "normal" ? KEYWORDS.normal : KEYWORDS.chat,
        ...(type === "groupchat" ? [KEYWORDS.groupchat] : []),
        ...(reason === "offline" ? [KEYWORDS.offline] : []),
        ...(input.encrypted ? [KEYWORDS.encrypted] : []),
      ]
    : [];
  switch (reason) {
    case "chat":
    case "sent":
      return { folder: [settings.chatsFolder], seen: true, keywords };
    case "groupchat":
      return { folder: input.room ? [settings.chatsFolder, roomFolderName(input.room, input.userDomain)] : [settings.chatsFolder], seen: true, keywords };
    default:
      return { ...INBOX, keywords };
  }
}

/**
 * A room's folder name: its local part, or local@domain for a room on another server's service.
 * Maildir++ uses '.' to separate levels, so a '.' in the name becomes '_'.
 */
export function roomFolderName(room: Jid, userDomain: string): string {
  const ours = room.domain === userDomain || room.domain.endsWith(`.${userDomain}`);
  const name = ours || !room.local ? room.local || room.domain : `${room.local}@${room.domain}`;
  return name.replaceAll(".", "_").replaceAll("/", "_");
}
