// Where archived mail goes: one interface, two implementations (Maildir files we write, or an LMTP
// server), chosen once in src/app.ts, as nodemailer's createTransport picks one transport. The
// archive handler never asks which one it holds.
import type { ArchiveRecord, MarkRecord } from "../capture/index.js";
import type { DedupeJournal } from "../dedupe/index.js";
import type { FlagResult } from "../maildir/index.js";

export interface StoreOutcome {
  /** "skipped": nothing to store (a reaction to a message the archive does not have), see `reason`. */
  readonly status: "stored" | "duplicate" | "skipped";
  readonly reason?: string;
  readonly messageId: string;
  readonly folder: string;
  readonly bytes: number;
  /** Over LMTP: the server's 250 reply (it names the session, which Dovecot's log shows too). */
  readonly response?: string;
}

export interface StoreOptions {
  /** When the stanza arrived (ms since the epoch): orders UIDs (DeliverOptions.arrivedAt). */
  readonly arrivedAt: number;
  /**
   * A copy from the server module: its key in the dedupe journal. Each sink writes the journal
   * entries of its own crash order (src/dedupe/journal.ts) around the delivery.
   */
  readonly dedupe?: { readonly journal: DedupeJournal; readonly key: string } | undefined;
}

/** "not-applied": over LMTP, flags of stored mail cannot be changed. */
export type MarkOutcome = FlagResult | "not-applied";

export interface Sink {
  /** Renders and stores a record. Throws typed errors only (StorageError, LmtpError, BadAddressError). */
  store(record: ArchiveRecord, options: StoreOptions): Promise<StoreOutcome>;
  /** Applies a marker (receipt, displayed) to the stored original. */
  mark(mark: MarkRecord): Promise<MarkOutcome>;
  /** Call when nothing is in flight. */
  close(): Promise<void>;
}

/** A reaction whose original the archive does not have is confirmed and not stored (docs/chat-history.md). */
export const REACTION_WITHOUT_ORIGINAL: StoreOutcome = { status: "skipped", reason: "reaction to a message the archive does not have", messageId: "", folder: "", bytes: 0 };
