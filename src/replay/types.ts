// Plain data passed between replay's sources, engine and targets.
import type { ArchiveRecord } from "../capture/index.js";
import type { Jid } from "../jid.js";

/** One message a source can produce, known cheaply (from a file name, a header, a store's index). */
export interface SourceEntry {
  /** Stable across runs: the checkpoint key and the tie-break of the time order. */
  readonly key: string;
  /** Original time if the index knows it (Date header, Prosody's `when`); sorts first when unknown. */
  readonly time: Date | undefined;
  /** Orders entries of the same second (Date headers have no fraction): delivery order, file order. */
  readonly tiebreak: number;
  /** Maildir++ folder name ("INBOX") for Maildir sources; "INBOX" otherwise. */
  readonly folder: string;
  /** Whose archive it is, when the source says so (a template match, a Prosody store's user). */
  readonly owner: Jid | undefined;
  /** Path (and item) to name in reports. */
  readonly location: string;
  /** Reads and parses the message. Throws MalformedError for what cannot be read. */
  load(): Promise<Loaded>;
}

export type Loaded =
  | {
      readonly kind: "record";
      readonly record: ArchiveRecord;
      /** The right-hand side of the Message-ID the source mail already has (a Maildir source). */
      readonly messageIdDomain?: string | undefined;
    }
  | { readonly kind: "skip"; readonly reason: string };

export interface Scan {
  readonly entries: SourceEntry[];
  /** Files that could not even be indexed (unreadable, no headers): reported, then counted as failed. */
  readonly problems: ReadonlyArray<{ readonly location: string; readonly reason: string }>;
}

/** A source indexed whole before the run (files: Maildirs, Prosody's file store, NDJSON). */
export interface Source {
  /** What the checkpoint remembers this source by. */
  readonly description: string;
  scan(): Promise<Scan>;
}

/** A row a streamed source could not turn into an entry: reported with its row id, counted as failed. */
export interface Problem {
  readonly problem: true;
  readonly location: string;
  readonly reason: string;
}

/**
 * A source read as a stream (a database): rows come one at a time, already in time order, from one
 * consistent snapshot, so memory stays flat however big the table is.
 */
export interface StreamSource {
  readonly description: string;
  /** Opens the snapshot (a read-only transaction). Throws ConfigError when the source cannot be read. */
  open(): Promise<Stream>;
}

export interface Stream {
  /** Rows the snapshot holds (for the progress bar). */
  readonly total: number;
  readonly entries: AsyncIterable<SourceEntry | Problem>;
  /** Ends the transaction and the connection. Idempotent. */
  close(): Promise<void>;
}

export type ReplayOutcome =
  | { readonly status: "replayed"; readonly where: string }
  | { readonly status: "skipped"; readonly reason: string };

export interface DeliveryHints {
  /** See Loaded: lets a Maildir target keep the source's Message-IDs without --domain. */
  readonly messageIdDomain?: string | undefined;
}

export interface Target {
  readonly description: string;
  /** Ordered targets (a stream, an XMPP conversation) get one delivery at a time, in time order. */
  readonly ordered: boolean;
  /**
   * Deliveries this target wants in flight at least, whatever --concurrency says: a target that
   * commits writes in batches resolves each delivery only once its batch is durable.
   */
  readonly minInFlight?: number;
  deliver(record: ArchiveRecord, entry: SourceEntry, hints?: DeliveryHints): Promise<ReplayOutcome>;
  close(): Promise<void>;
}
