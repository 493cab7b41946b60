// Replay target for scripts: one JSON object per stanza (NDJSON), or one XML document whose items
// are XEP-0297 <forwarded/> stanzas with a XEP-0203 <delay/>, written to an injected stream.
import type { ArchiveRecord } from "../../capture/index.js";
import { bare, full } from "../../jid.js";
import { messageIdFor } from "../../mail/index.js";
import xml from "@xmpp/xml";
import { NS_DELAY, NS_FORWARD } from "../../capture/index.js";
import type { SourceEntry, Target } from "../types.js";

export type OutputFormat = "ndjson" | "xml";
export const OUTPUT_FORMATS: readonly OutputFormat[] = ["ndjson", "xml"];

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
  const { output, format } = options;
  let started = false;
  const write = async (text: string) => {
    // Backpressure: a slow reader (| head, | jq) must not make us buffer the whole archive.
    if (!output.write(text)) await new Promise<void>((resolve) => output.once("drain", resolve));
  };
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
