// One catalogue of error codes (after nodemailer's lib/errors.js), checked by
// test/unit/errors.test.ts. Every failure that crosses a module boundary is one of these classes,
// and each becomes something else in exactly one place:
//   a stanza error sent back   src/xmpp/stanza-error.ts
//   a log line and a metric    src/archive/report.ts (archive path), src/bridge/bridge.ts (mail not sent)
//   an exit code and a message src/cli/main.ts

export const ErrorCodes = {
  /** A config key or flag is missing or invalid. CLI exit code 2. */
  CONFIG: "ECONFIG",
  /** A JID that cannot be mapped to a safe Maildir path (`..`, `/`, NUL, control characters). */
  BAD_ADDRESS: "EBADADDRESS",
  /** A stanza we will not store: wrong sender for a copy, malformed copy, unsupported type. */
  REFUSED: "EREFUSED",
  /** The disk said no: ENOSPC, EDQUOT, EACCES, EROFS, or another I/O failure while delivering. */
  STORAGE: "ESTORAGE",
  /** The XMPP server rejected the component itself (bad secret, unknown host). Not retried. */
  XMPP_AUTH: "EXMPPAUTH",
  /** A source file or line (mail, Prosody store, NDJSON) that is not what it claims to be. Reported with its path and skipped. */
  MALFORMED: "EMALFORMED",
  /** Replay to XMPP: the connection could not be made, or the server bounced a replayed stanza. */
  REPLAY: "EREPLAY",
  /** Mail from XMPP to SMTP: the smarthost refused it, or could not be reached after retries. */
  SMTP: "ESMTP",
  /** Delivery over LMTP (--deliver lmtp://…): the LMTP server deferred or refused a mail, or could not be reached. */
  LMTP: "ELMTP",
  /** One of our HTTP listeners (metrics, push trigger) could not listen, for a reason no config key fixes. */
  LISTEN: "ELISTEN",
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** RFC 6120 §8.3.2 error types and the §8.3.3 conditions we use. */
export type StanzaErrorType = "cancel" | "modify" | "wait" | "auth";
export type StanzaErrorCondition =
  | "bad-request"
  | "jid-malformed"
  | "not-allowed"
  | "forbidden"
  | "service-unavailable"
  | "resource-constraint"
  | "internal-server-error"
  | "policy-violation"
  | "item-not-found"
  | "not-acceptable"
  | "remote-server-not-found"
  | "remote-server-timeout";

export class XmppMaildirError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A bad config key: the message names the key and says how to fix it. */
export class ConfigError extends XmppMaildirError {
  readonly key: string;
  constructor(key: string, message: string) {
    super(ErrorCodes.CONFIG, `${key}: ${message}`);
    this.key = key;
  }
}

/** A stanza we refuse to store. Carries the stanza error the sender gets back. */
export class RefusedError extends XmppMaildirError {
  readonly stanzaError: { type: StanzaErrorType; condition: StanzaErrorCondition };
  constructor(
    message: string,
    stanzaError: { type: StanzaErrorType; condition: StanzaErrorCondition },
    code: ErrorCode = ErrorCodes.REFUSED,
  ) {
    super(code, message);
    this.stanzaError = stanzaError;
  }
}

/** An address that would leave the Maildir root, or cannot name a mailbox at all. */
export class BadAddressError extends RefusedError {
  constructor(message: string) {
    super(message, { type: "modify", condition: "jid-malformed" }, ErrorCodes.BAD_ADDRESS);
  }
}

/**
 * Delivery failed on disk. `transient` is true for conditions that clear by themselves once an
 * admin acts (full disk, quota, read-only remount, permissions), so the sender should retry.
 */
export class StorageError extends XmppMaildirError {
  readonly path: string;
  readonly transient: boolean;
  readonly reason: string;
  /**
   * `reason` defaults to the cause's errno code (and is taken over from a StorageError cause);
   * `message` replaces the default one, e.g. to say how to fix it.
   */
  constructor(path: string, cause: NodeJS.ErrnoException, options?: { reason?: string; message?: string }) {
    const inner = cause instanceof StorageError ? cause : undefined;
    const reason = options?.reason ?? inner?.reason ?? cause.code ?? "EIO";
    const detail = inner?.cause instanceof Error ? inner.cause.message : cause.message;
    super(ErrorCodes.STORAGE, options?.message ?? `cannot store into ${path}: ${reason} (${detail})`, { cause });
    this.path = path;
    this.reason = reason;
    this.transient = TRANSIENT_DISK_ERRORS.has(reason);
  }
}

/** Disk conditions an admin can fix without losing the message: answer `wait`, never confirm. */
// EAGAIN: a Dovecot dot-lock (subscriptions, dovecot-uidlist) held longer than we wait (src/maildir/lock.ts).
const TRANSIENT_DISK_ERRORS = new Set(["ENOSPC", "EDQUOT", "EACCES", "EPERM", "EROFS", "EIO", "EMFILE", "ENFILE", "EAGAIN"]);

/** A listener that could not start (ConfigError instead when a key fixes it: a port in use). */
export class ListenError extends XmppMaildirError {
  readonly address: string;
  /** `what`: "metrics", "push notifications". */
  constructor(what: string, address: string, cause: NodeJS.ErrnoException) {
    super(ErrorCodes.LISTEN, `cannot serve ${what} on ${address}: ${cause.code ?? cause.message}`, { cause });
    this.address = address;
  }
}

export class XmppAuthError extends XmppMaildirError {
  constructor(message: string) {
    super(ErrorCodes.XMPP_AUTH, message);
  }
}

/** A file or line that cannot be read as an archived message; `location` is its path (and line or item). */
export class MalformedError extends XmppMaildirError {
  readonly location: string;
  /** What is wrong, without the location (the message is "<location>: <reason>"). */
  readonly reason: string;
  constructor(location: string, reason: string, options?: { cause?: unknown }) {
    super(ErrorCodes.MALFORMED, `${location}: ${reason}`, options);
    this.location = location;
    this.reason = reason;
  }
}

/** Replaying into XMPP failed: no connection, or a bounce (`condition` is the stanza error's). */
export class ReplayError extends XmppMaildirError {
  readonly condition: string | undefined;
  constructor(message: string, condition?: string) {
    super(ErrorCodes.REPLAY, message);
    this.condition = condition;
  }
}

/**
 * The SMTP smarthost did not take a mail a user sent from XMPP. `response` is the server's own
 * reply line ("550 5.1.1 <bob@example.net>: Recipient address rejected"), shown to the user;
 * `transient` is true for 4xx replies and connection failures that outlasted our retries.
 */
export class SmtpError extends XmppMaildirError {
  readonly responseCode: number | undefined;
  readonly response: string;
  readonly transient: boolean;
  constructor(response: string, options: { responseCode?: number | undefined; transient: boolean; cause?: unknown }) {
    super(ErrorCodes.SMTP, `mail not sent: ${response}`, { cause: options.cause });
    this.response = response;
    this.responseCode = options.responseCode;
    this.transient = options.transient;
  }
}

/**
 * An archived mail that the LMTP server (--deliver lmtp://…) did not take. `transient` is true for
 * a 4xx reply (RFC 5321 §4.2.1: quota with quota_full_tempfail, a backend that is down) and for a
 * connection that could not be made or broke: the copy is answered `wait` and sent again. A 5xx
 * (user unknown, quota without tempfail) and an address LMTP cannot carry are permanent.
 */
export class LmtpError extends XmppMaildirError {
  /** Where we delivered: lmtp://host:port or lmtp:/path. */
  readonly target: string;
  readonly transient: boolean;
  /** The server's reply code (452), or undefined when there was no reply (connection failure). */
  readonly responseCode: number | undefined;
  /** The reply line, or what went wrong without one ("ECONNREFUSED"). Never holds a secret. */
  readonly response: string;
  /** Short, for logs and the stanza error text: "452 4.2.2", "ECONNREFUSED", "address". */
  readonly reason: string;
  constructor(target: string, response: string, options: { responseCode?: number | undefined; transient: boolean; reason: string; cause?: unknown }) {
    super(ErrorCodes.LMTP, `LMTP delivery to ${target} failed: ${response}`, { cause: options.cause });
    this.target = target;
    this.response = response;
    this.responseCode = options.responseCode;
    this.transient = options.transient;
    this.reason = options.reason;
  }
}
