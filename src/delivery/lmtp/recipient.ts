// The LMTP recipient for a mailbox owner and folder. The owner's bare JID is the address
// (alice@example.org: users log in to Dovecot as user@domain, the same %u our Maildir template
// uses). A folder below INBOX travels as the recipient detail, alice+Chats.lounge@example.org,
// which Dovecot's LMTP saves into that folder with `lmtp_save_to_detail_mailbox = yes`
// (https://doc.dovecot.org/2.3/settings/core/#core_setting-lmtp_save_to_detail_mailbox).
//
// Checked against Dovecot 2.3.19: it splits the local part at the first recipient_delimiter ('+')
// *before* the user lookup, so the user bob+x@example.org would be delivered to bob's folder "x".
// Such owners are refused here rather than delivered into someone else's mailbox.
import { BadAddressError, LmtpError } from "../../errors.js";
import { assertSafePart, type MailboxOwner } from "../../maildir/index.js";

/** Dovecot's default recipient_delimiter. */
export const RECIPIENT_DELIMITER = "+";
/**
 * The hierarchy separator of Dovecot's default Maildir++ namespace: Chats/lounge is the mailbox
 * "Chats.lounge". Our folder names never hold a '.' (the chats folder may not, room names have it
 * replaced by '_'), so the levels stay apart.
 */
export const FOLDER_SEPARATOR = ".";

export interface LmtpRecipient {
  /** For RCPT TO, without the angle brackets. */
  readonly address: string;
  /** The folder the address names: the one asked for, or a parent when a level is not ASCII. */
  readonly folder: readonly string[];
}

// RFC 5321 §4.1.2 Dot-string: atoms of atext (RFC 5322 §3.2.3) separated by single dots.
const DOT_STRING = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+(\.[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+)*$/;
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

/**
 * The address to deliver `owner`'s mail in `folder` to. Throws BadAddressError for what could
 * never be a mailbox (as the Maildir template does: Dovecot puts %n in paths too), and a permanent
 * LmtpError for an owner LMTP cannot carry: non-ASCII (Dovecot 2.3's LMTP has no SMTPUTF8 and
 * answers 501) or holding the recipient delimiter.
 */
export function lmtpRecipient(owner: MailboxOwner, folder: readonly string[], target: string): LmtpRecipient {
  assertSafePart(owner.local, "local part");
  assertSafePart(owner.domain, "domain");
  const who = `${owner.local}@${owner.domain}`;
  if (!PRINTABLE_ASCII.test(who)) {
    throw new LmtpError(target, `${who} is not ASCII, and Dovecot's LMTP takes no internationalized (SMTPUTF8) address`, { transient: false, reason: "non-ASCII address" });
  }
  if (owner.local.includes(RECIPIENT_DELIMITER)) {
    throw new LmtpError(target, `${who} holds '${RECIPIENT_DELIMITER}', Dovecot's recipient_delimiter: LMTP would deliver it to the mailbox of '${owner.local.split(RECIPIENT_DELIMITER)[0]}'`, {
      transient: false,
      reason: "delimiter in address",
    });
  }
  // A room named in Unicode: the deepest level that can be said in ASCII (the chats folder is
  // checked to be ASCII at startup), rather than no archive at all.
  const levels: string[] = [];
  for (const level of folder) {
    if (!PRINTABLE_ASCII.test(level)) break;
    levels.push(level);
  }
  const local = levels.length > 0 ? `${owner.local}${RECIPIENT_DELIMITER}${levels.join(FOLDER_SEPARATOR)}` : owner.local;
  return { address: `${quoteLocal(local)}@${owner.domain}`, folder: levels };
}

/** RFC 5321 §4.1.2: a local part that is not a Dot-string is sent as a Quoted-string. */
export function quoteLocal(local: string): string {
  if (DOT_STRING.test(local)) return local;
  if (!PRINTABLE_ASCII.test(local)) throw new BadAddressError(`local part '${local}' cannot be sent over LMTP`);
  return `"${local.replace(/[\\"]/g, "\\$&")}"`;
}
