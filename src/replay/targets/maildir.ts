// Replay/import target: archive again through the same MIME and Maildir code as live capture
// (renderMail, then the atomic writer), into the same Maildir++ folder under another template.
// Idempotent: a Message-ID already present in the target folder is not written twice. Each target
// folder's Message-IDs are read once, on first use (the header block of every file in its new/ and
// cur/: one small read per existing message), and kept in a Set for the rest of the run.
import type { ArchiveRecord } from "../../capture/index.js";
import { peekHeaders, renderMail, type RenderedMail } from "../../mail/index.js";
import { compileTemplate, createMaildirWriter, folderDir, folderPath, listMessages, type MaildirWriter, readHeaderBytes } from "../../maildir/index.js";
import { mapLimit } from "../limit.js";
import type { DeliveryHints, Prerendered, RecordSummary, ReplayOutcome, SourceEntry, Target } from "../types.js";
import { ConfigError } from "../../errors.js";
import { createRenderPool, defaultRenderThreads, type RenderPool } from "./render-pool.js";

/** Reading headers of an existing folder: the same trade-off as indexing a source. */
const SCAN_CONCURRENCY = 32;
/**
 * Mails fsynced and renamed together (src/maildir/batch-sync.ts): one fsync per mail and per
 * rename held an import to the disk's commit rate (about 900 mails/s here, docs/performance.md).
 * Twice as many deliveries are kept in flight, so the next batch fills while one is committed.
 * 512: with the command's 16 pool threads (src/cli/bin.cts) a batch is 32 waves of fsyncs; a
 * mail in flight holds its record and its bytes (a few kB), so 1,024 of them stay a few MB.
 */
const BATCH = { size: 512, idleMs: 5 } as const;

export interface MaildirTargetOptions {
  readonly template: string;
  /**
   * The component domain: the right-hand side of Message-IDs, as the archiver makes them. Unset:
   * each message keeps the one its source mail has (DeliveryHints), and mail without one fails.
   */
  readonly domain: string | undefined;
  readonly dryRun: boolean;
  /** The flag or key the template came from, for errors. */
  readonly key?: string;
  readonly writer?: MaildirWriter;
  /**
   * Worker threads that render the mails (./render-pool.ts); 0 renders on the main thread.
   * Default: one per spare core (none on one core), or 0 with an injected writer.
   */
  readonly renderThreads?: number;
  /** Tests: render with this pool (closed with the target) instead of one made here. */
  readonly renderPool?: RenderPool;
}

export function createMaildirTarget(options: MaildirTargetOptions): Target {
  const resolve = compileTemplate(options.template, options.key ?? "to-maildir");
  const writer = options.writer ?? createMaildirWriter({ batch: BATCH });
  const known = new Map<string, Promise<Set<string>>>();
  const threads = options.renderThreads ?? (options.writer ? 0 : defaultRenderThreads());
  const pool = options.renderPool ?? (threads > 0 ? createRenderPool({ size: threads }) : undefined);
  const prerenderRow = pool?.prerender;
  const { domain } = options;

  function idsIn(folder: string): Promise<Set<string>> {
    let ids = known.get(folder);
    if (!ids) {
      ids = scanMessageIds(folder);
      known.set(folder, ids);
    }
    return ids;
  }

  /** The mail of `record` into its folder, unless that folder has its Message-ID already. */
  async function store(record: Pick<RecordSummary, "owner" | "placement">, entry: SourceEntry, mail: RenderedMail): Promise<ReplayOutcome> {
    // A record that capture placed (import from a server's archive: the chats folder, \Seen) goes
    // where live capture would put it; one from a Maildir keeps the folder it came from.
    const { placement } = record;
    const placed = placement.folder.length > 0 || placement.seen || placement.keywords.length > 0;
    const maildir = resolve(record.owner);
    const folder = placed ? folderDir(maildir, placement.folder) : folderPath(maildir, entry.folder);
    const ids = await idsIn(folder);
    if (ids.has(mail.messageId)) return { status: "skipped", reason: "already in the target folder (same Message-ID)" };
    if (options.dryRun) {
      ids.add(mail.messageId);
      return { status: "replayed", where: folder };
    }
    // Reserved before the write, so two copies of one stanza in flight cannot both be written.
    ids.add(mail.messageId);
    try {
      const delivered = placed
        ? await writer.deliver(maildir, mail.bytes, { folder: placement.folder, seen: placement.seen, keywords: placement.keywords })
        : await writer.deliver(folder, mail.bytes);
      return { status: "replayed", where: delivered.path };
    } catch (err) {
      ids.delete(mail.messageId);
      throw err;
    }
  }

  return {
    description: `maildir:${options.template}`,
    ordered: false,
    ...(options.writer ? {} : { minInFlight: BATCH.size * 2 }),
    async deliver(record: ArchiveRecord, entry: SourceEntry, hints?: DeliveryHints) {
      const idDomain = domain ?? hints?.messageIdDomain;
      if (!idDomain) throw new ConfigError("domain", "is needed for a message whose source has no Message-ID of ours: pass --domain <component domain> (the right-hand side of the Message-IDs written)");
      const mail = pool ? await pool.render(record, { domain: idDomain }) : await renderMail(record, { domain: idDomain });
      return store(record, entry, mail);
    },
    // A database row is parsed and rendered on a render worker in one go. Only with --domain: a
    // row has no Message-ID of its own, and without it `deliver` fails the row with the fix named.
    ...(prerenderRow && domain !== undefined
      ? {
          prerender: {
            load: (entry: SourceEntry) => (entry.portable ? prerenderRow(entry.portable, { domain }) : undefined),
            deliver: (rendered: Prerendered, entry: SourceEntry) => store(rendered.facts, entry, rendered.mail),
          },
        }
      : {}),
    async close() {
      await pool?.close();
    },
  };
}

export async function scanMessageIds(folder: string): Promise<Set<string>> {
  const ids = new Set<string>();
  const messages = await listMessages(folder).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return [];
    throw err;
  });
  await mapLimit(messages, SCAN_CONCURRENCY, async (m) => {
    try {
      const id = peekHeaders(await readHeaderBytes(m.path))?.get("message-id");
      if (id) ids.add(id.trim());
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  });
  return ids;
}
