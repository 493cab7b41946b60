// What an end-to-end encrypted message looks like as mail (capture/encryption.ts). The component
// never decrypts: the mail says what the message is and where it can be read, and the stanza part
// keeps the ciphertext byte for byte, so `xmpp-maildir replay` can hand it back to a client that
// holds the keys. The sender's fallback <body/> ("I sent you an OMEMO encrypted message but your
// client doesn't seem to support that…") says nothing about the message, so it is not shown.
import { bare } from "../jid.js";
import type { ArchiveRecord, Encryption } from "../capture/index.js";

export const ENCRYPTION_HEADER = "X-XMPP-Encryption";

export function encryptedSubject(encryption: Encryption): string {
  return `Encrypted message (${encryption.name})`;
}

export function encryptedText(record: ArchiveRecord, encryption: Encryption): string {
  const what = record.chat.replaces ? "This correction of an earlier message" : "This message";
  const peer = bare(record.direction === "out" ? record.to : record.from);
  return [
    `${what} is end-to-end encrypted (${encryption.name}).`,
    "",
    `Only your XMPP apps can read it: open your conversation with ${peer} there.`,
    "The archive cannot decrypt it. The original is kept in this mail, in its application/xmpp+xml part,",
    "so `xmpp-maildir replay` can hand it back to an XMPP app that holds the keys.",
  ].join("\n");
}
