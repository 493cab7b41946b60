// What the rest of the component tells the metrics: a small interface with no dependency on
// prom-client, so the archive handler, its tests and a run without --metrics-port never load it. Events
// flow one way, from the archive path into here; nothing here calls back.
// Labels stay few and fixed (kind, status, stanza-error condition, errno): never a user or a JID,
// which would make one time series per user.

/** How a message reached us: a copy from the server module, or a message to user@<component>. */
export type ArchiveKind = "copy" | "direct";

export interface Metrics {
  /**
   * A message is in the Maildir: written now ("stored"), or found already there ("duplicate").
   * `seconds` runs from the stanza's arrival (queueing included) to the rename into new/ (with
   * --deliver lmtp, to the LMTP server's 250).
   */
  stored(event: { kind: ArchiveKind; status: "stored" | "duplicate"; seconds?: number }): void;
  /** A stanza refused with this stanza-error condition (RFC 6120 §8.3.3), e.g. jid-malformed. */
  refused(condition: string): void;
  /** A failure that is not a refusal: the disk (`reason` is the errno code) or a bug (the error's class). */
  failed(event: { kind: "storage" | "unexpected"; reason: string }): void;
  /** Writes running and stanzas waiting for a write slot, after every change (src/archive/limiter.ts). */
  inFlight(state: { active: number; queued: number }): void;
  /** The XEP-0114 stream came up (handshake accepted) or went down. */
  connection(state: "online" | "offline"): void;
  /** The dedupe journal was opened or closed. */
  journal(state: "open" | "closed"): void;
  /**
   * A shared file (--upload-origins) was fetched and attached (`result` "attached", with its
   * bytes), or not, with the reason (src/fetch FETCH_FAILURES, "hash-mismatch", "too-many-files").
   */
  upload(event: { result: string; bytes?: number }): void;
  /** A mail from XMPP refused by a per-user send limit (src/bridge/outbound/limits.ts). */
  mailLimited(limit: "per-minute" | "per-day"): void;
}

/** Metrics off: every call does nothing. */
export const noMetrics: Metrics = Object.freeze({
  stored() {},
  refused() {},
  failed() {},
  inFlight() {},
  connection() {},
  journal() {},
  upload() {},
  mailLimited() {},
});
