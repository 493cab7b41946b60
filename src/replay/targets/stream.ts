// Replay target for scripts: one JSON object per stanza (NDJSON), or one XML document whose items
// are XEP-0297 <forwarded/> stanzas with a XEP-0203 <delay/>, written to an injected stream.
import type { ArchiveRecord } from "../../capture/index.js";
import { bare, full } from "../../jid.js";
import { messageIdFor } from "../../mail/index.js";
import xml from "@xmpp/xml";
import { NS_DELAY, NS_FORWARD } from "../../namespaces.js";
import type { SourceEntry, Target } from "../types.js";

export type OutputFormat = "ndjson" | "xml";
export const OUTPUT_FORMATS: readonly OutputFormat[] = ["ndjson", "xml"];

/** About 64 kB: many lines per write, well under a pipe's buffer. */
const BATCH_CHARS = 64 * 1024;

/** Our own namespace for the XML document's wrapper elements. */
const NS_REPLAY = "urn:xmpp-maildir:replay:0";

export interface Output {
  write(chunk: string): boolean;
  once(event: "drain", listener: () => void): unknown;
}

export interface StreamTargetOptions {
  readonly format: OutputFormat;
  readonly output: Output;
  /** When known, each NDJSON object carries the Message-ID the archiver would give the stanza. */
  readonly domain: string | undefined;
}

export function createStreamTarget(options: StreamTargetOptions): Target {
  const { format } = options;
  let started = false;
  const { write, flush } = batchWrites(options.output);
  return {
    description: `stdout:${format}`,
    ordered: true,
    async deliver(record, entry) {
      if (format === "ndjson") {
        await write(`${JSON.stringify(toJson(record, entry, options.domain))}\n`);
      } else {
        if (!started) await write(`<?xml version='1.0' encoding='utf-8'?>\n<archive xmlns='${NS_REPLAY}'>\n`);
        await write(`${forwardedXml(record, entry)}\n`);
      }
      started = true;
      return { status: "replayed", where: "stdout" };
    },
    async close() {
      if (format === "xml") await write(started ? "</archive>\n" : `<?xml version='1.0' encoding='utf-8'?>\n<archive xmlns='${NS_REPLAY}'/>\n`);
      await flush();
    },
  };
}

/**
 * Lines delivered in one turn of the event loop (replay delivers many per turn once reads are
 * ahead) go out as one write: for stdout on a file or a pipe, one system call instead of one per
 * line. A batch is written when it reaches BATCH_CHARS, or on the next turn, so a slow run
 * (--rate) still shows each line at once.
 */
function batchWrites(output: Output): { write(text: string): Promise<void>; flush(): Promise<void> } {
  let batch: string[] = [];
  let chars = 0;
  let scheduled = false;
  let drained: Promise<void> | undefined;
  const writeBatch = () => {
    scheduled = false;
    if (batch.length === 0) return;
    const chunk = batch.join("");
    batch = [];
    chars = 0;
    // Backpressure: a slow reader (| head, | jq) must not make us buffer the whole archive. The
    // next write waits for the drain, so at most one batch is held beyond the stream's own buffer.
    if (!output.write(chunk)) drained ??= new Promise<void>((resolve) => output.once("drain", resolve)).then(() => (drained = undefined));
  };
  return {
    async write(text) {
      if (drained) await drained;
      batch.push(text);
      chars += text.length;
      if (chars >= BATCH_CHARS) writeBatch();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(writeBatch);
      }
    },
    async flush() {
      writeBatch();
      if (drained) await drained;
    },
  };
}

/** The NDJSON shape; `import` reads "xml", "owner", "time" and "folder" back. */
export function toJson(record: ArchiveRecord, entry: SourceEntry, domain: string | undefined): Record<string, unknown> {
  return {
    owner: bare(record.owner),
    folder: entry.folder,
    from: full(record.from),
    to: full(record.to),
    type: record.type,
    time: record.time.toISOString(),
    subject: record.subject ?? null,
    thread: record.thread ?? null,
    body: record.body,
    ids: { originId: record.ids.originId ?? null, stanzaId: record.ids.stanzaId ?? null, id: record.ids.id ?? null },
    messageId: domain ? messageIdFor(record, domain) : null,
    source: entry.location,
    xml: record.xml,
  };
}

function forwardedXml(record: ArchiveRecord, entry: SourceEntry): string {
  const stanza = record.xml.replace(/^<\?xml[^?]*\?>\s*/, "");
  const delay = xml("delay", { xmlns: NS_DELAY, stamp: record.time.toISOString() }).toString();
  const item = xml("item", { owner: bare(record.owner), folder: entry.folder }).toString().replace(/\/>$/, ">");
  return `${item}<forwarded xmlns='${NS_FORWARD}'>${delay}${stanza}</forwarded></item>`;
}
