// What the archive keeps beyond offline and normal messages (docs/chat-history.md). Declared here,
// where it is read; config/ builds it from --chat-history, --groupchat, --chats-folder, --keywords
// and --max-attachment-bytes.

export interface ChatSettings {
  /** --chat-history: one-to-one chats, both directions, into `folder`. */
  readonly history: boolean;
  /** --groupchat: MUC messages into `folder`.<room>. */
  readonly groupchat: boolean;
  /** --chats-folder: the IMAP name of the chat folder (one level, no separator). */
  readonly folder: string;
  /** --keywords: $XMPP and friends on every archived mail. */
  readonly keywords: boolean;
  /** --max-attachment-bytes: larger embedded data stays only in the stanza part. */
  readonly maxAttachmentBytes: number;
}


/** --encrypted: what becomes of end-to-end encrypted messages (capture/encryption.ts). */
export const ENCRYPTED_POLICIES = ["archive", "skip"] as const;
export type EncryptedPolicy = (typeof ENCRYPTED_POLICIES)[number];
