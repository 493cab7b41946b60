// --checkpoint FILE: an append-only log of what a replay has finished, so an interrupted run can
// go on where it stopped. The first line names the job (source and target); each further line is
// one finished entry's key as a JSON string. A key is appended as soon as its entry is done, with
// one write(2) to an O_APPEND file, so even a killed process loses at most the entries in flight.
// A torn last line (power loss mid-write) is ignored, and that entry is simply done again.
import { open, readFile, type FileHandle } from "node:fs/promises";
import { ConfigError } from "../errors.js";

const FORMAT = "xmpp-maildir-checkpoint/1";

export interface Checkpoint {
  /** How many entries the file already held when opened. */
  readonly resumed: number;
  has(key: string): boolean;
  done(key: string): Promise<void>;
  close(): Promise<void>;
}

export async function openCheckpoint(file: string, job: string): Promise<Checkpoint> {
  const done = new Set<string>();
  let text: string | undefined;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new ConfigError("checkpoint", `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  const lines = text ? text.split("\n") : [];
  if (text) {
    const header = parseLine(lines[0] ?? "") as { format?: string; job?: string } | undefined;
    if (!header || header.format !== FORMAT) throw new ConfigError("checkpoint", `${file} is not an xmpp-maildir checkpoint; give a new file name`);
    if (header.job !== job) {
      throw new ConfigError("checkpoint", `${file} belongs to another replay (${header.job}); this one is ${job}. Use another file, or delete it to start over`);
    }
    for (const line of lines.slice(1)) {
      const key = parseLine(line);
      if (typeof key === "string") done.add(key);
    }
  }
  let handle: FileHandle;
  try {
    handle = await open(file, "a", 0o600);
  } catch (err) {
    throw new ConfigError("checkpoint", `cannot write ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  // A torn last line has no newline: start our first key on a fresh line.
  const prefix = !text ? `${JSON.stringify({ format: FORMAT, job })}\n` : text.endsWith("\n") ? "" : "\n";
  let chain: Promise<unknown> = prefix ? handle.write(prefix) : Promise.resolve();
  const resumed = done.size;
  return {
    resumed,
    has: (key) => done.has(key),
    done(key) {
      done.add(key);
      const write = chain.then(() => handle.write(`${JSON.stringify(key)}\n`));
      chain = write.catch(() => undefined);
      return write.then(() => undefined);
    },
    async close() {
      await chain;
      await handle.sync().catch(() => undefined);
      await handle.close();
    },
  };
}

function parseLine(line: string): unknown {
  try {
    return line ? JSON.parse(line) : undefined;
  } catch {
    return undefined;
  }
}
