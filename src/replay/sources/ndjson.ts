// Import source: the NDJSON that `replay --format ndjson` writes, one object per line with at least
// "xml" (the stanza document); "owner", "time" and "folder" are used when present. A line that is
// not such an object is reported with its line number and skipped.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { ConfigError, MalformedError } from "../../errors.js";
import { parseJid } from "../../jid.js";
import type { Domains } from "../owner.js";
import { loadStanzaXml } from "../records.js";
import type { Scan, Source, SourceEntry } from "../types.js";

export interface NdjsonSourceOptions {
  /** A file path; the whole file is indexed in memory (one string per line). */
  readonly file: string;
  readonly domains: Domains;
}

export function createNdjsonSource(options: NdjsonSourceOptions): Source {
  const file = path.resolve(options.file);
  return {
    description: `ndjson:${file}`,
    async scan(): Promise<Scan> {
      let text: string;
      try {
        text = await readFile(file, "utf8");
      } catch (err) {
        throw new ConfigError("source", `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      const entries: SourceEntry[] = [];
      const problems: Array<{ location: string; reason: string }> = [];
      text.split("\n").forEach((line, i) => {
        if (!line.trim()) return;
        const location = `${file}:${i + 1}`;
        let obj: Record<string, unknown>;
        try {
          obj = JSON.parse(line) as Record<string, unknown>;
        } catch (err) {
          problems.push({ location, reason: `not JSON (${(err as Error).message})` });
          return;
        }
        if (typeof obj !== "object" || obj === null || typeof obj.xml !== "string") {
          problems.push({ location, reason: "no \"xml\" string in the line" });
          return;
        }
        const xmlText = obj.xml;
        const owner = typeof obj.owner === "string" ? parseJid(obj.owner) : null;
        const ms = typeof obj.time === "string" ? Date.parse(obj.time) : NaN;
        const time = Number.isNaN(ms) ? undefined : new Date(ms);
        const folder = typeof obj.folder === "string" && obj.folder ? obj.folder : "INBOX";
        const ownerJid = owner ? { local: owner.local, domain: owner.domain, resource: "" } : undefined;
        entries.push({
          key: `ndjson/${i + 1}`,
          time,
          tiebreak: i,
          folder,
          owner: ownerJid,
          location,
          load: async () => {
            if (time === undefined) throw new MalformedError(location, "no valid \"time\"");
            return loadStanzaXml(xmlText, { location, owner: ownerJid, reason: "import", fallbackTime: time, domains: options.domains });
          },
        });
      });
      return { entries, problems };
    },
  };
}
