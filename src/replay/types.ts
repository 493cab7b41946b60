// Plain data passed between replay's sources, engine and targets.
import type { ArchiveRecord } from "../capture/index.js";
import type { Jid } from "../jid.js";
import type { RenderedMail } from "../mail/index.js";
import type { Domains } from "./owner.js";

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
  /**
   * What `load()` does, as plain data another thread can run (a database row and the function's
   * name): a target that renders on worker threads parses and renders it there in one go, so the
   * main thread, an import's limit, does neither (docs/performance.md, issue #16 item 7).
   */
  readonly portable?: PortableLoad;
}

/** A row of a server's archive or offline store, as the SQL and Mnesia sources read it (sources/sql/archived.ts). */
export interface ArchivedRow {
  /** The checkpoint key: stable across runs (server, table, row id). */
  readonly key: string;
  /** Where to find the row: the database and the row id. */
  readonly location: string;
  readonly owner: Jid;
  readonly time: Date;
  readonly xml: string;
  readonly store: "archive" | "offline";
  /**
   * The server's MAM id for this message. Live, the server adds it to what the owner receives as
   * a XEP-0359 <stanza-id by=owner/>, which our live capture hashes; the stored row has no
   * such element, so it is put back and the Message-ID comes out the same.
   */
  readonly archiveId: string | undefined;
  readonly tiebreak: number;
}

/** A database row's load, runnable on a render worker: sources/sql/archived.ts `loadArchived`. */
export interface PortableLoad {
  readonly loader: "archived";
  readonly row: ArchivedRow;
  readonly domains: Domains;
}

/** What selection (selection.ts) and filing (the chats folder, \Seen) need of a record. */
export type RecordSummary = Pick<ArchiveRecord, "owner" | "from" | "to" | "type" | "time" | "placement">;

export type Loaded =
  | {
      readonly kind: "record";
      readonly record: ArchiveRecord;
      /** The right-hand side of the Message-ID the source mail already has (a Maildir source). */
      readonly messageIdDomain?: string | undefined;
    }
  | { readonly kind: "skip"; readonly reason: string }
  /** Loaded and rendered in one go on a worker (Target.prerender): the record itself stayed there. */
  | Prerendered;

export interface Prerendered {
  readonly kind: "rendered";
  readonly facts: RecordSummary;
  readonly mail: RenderedMail;
}

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
  /**
   * A target that renders on worker threads: `load` loads and renders an entry with a portable
   * load there (undefined for one without: it is loaded as usual), and `deliver` stores what it
   * gave, exactly as `Target.deliver` would have stored the record.
   */
  readonly prerender?: {
    load(entry: SourceEntry): Promise<Loaded> | undefined;
    deliver(rendered: Prerendered, entry: SourceEntry): Promise<ReplayOutcome>;
  };
  close(): Promise<void>;
}
