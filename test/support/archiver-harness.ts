// The real archiver connected to the in-process XEP-0114 server, with its log lines collected.
// The config goes through the real loader, so every option gets its default.
import assert from "node:assert/strict";
import path from "node:path";
import { Writable } from "node:stream";
import { loadRunConfig } from "../../src/config/index.js";
import { createLogger } from "../../src/log/index.js";
import type { MaildirWriter } from "../../src/maildir/index.js";
import type { Metrics } from "../../src/metrics/index.js";
import { createApp, type App } from "../../src/app.js";
import { startFakeServer, type FakeServer } from "./fake-server.js";

export const COMPONENT = "archive.example.org";
const LOG_WAIT_MS = 10_000;

export interface ArchiverHarness {
  readonly server: FakeServer;
  readonly archiver: App;
  /** Every log line, parsed. */
  readonly logs: Array<Record<string, unknown>>;
  /** Every log line as written. */
  text(): string;
  waitForLog(pred: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

export async function startArchiverHarness(options: {
  dir: string;
  /** Flags as on the command line ("max-stanza-bytes": "65536"); the Maildir and state dir default into `dir`. */
  flags?: Record<string, string>;
  secret?: string;
  writer?: MaildirWriter;
  metrics?: Metrics;
  logLevel?: string;
  /** Leave --maildir unset (allowed with --deliver lmtp). */
  noMaildir?: boolean;
}): Promise<ArchiverHarness> {
  const secret = options.secret ?? "s3cret";
  const server = await startFakeServer({ domain: COMPONENT, secret });
  const config = loadRunConfig({
    flags: {
      domain: COMPONENT,
      ...(options.noMaildir ? {} : { maildir: path.join(options.dir, "mail", "%d", "%n") }),
      "state-dir": path.join(options.dir, "state"),
      "xmpp-port": String(server.port),
      ...options.flags,
    },
    env: { XMPP_MAILDIR_SECRET: secret },
  });
  const lines: string[] = [];
  const logs: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n")) {
        if (!line) continue;
        lines.push(line);
        logs.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  const level = options.logLevel ?? "debug";
  const archiver = createApp({
    config,
    logger: createLogger({ level, destination }),
    onFatal: (err) => assert.fail(err),
    ...(options.writer ? { writer: options.writer } : {}),
    ...(options.metrics ? { metrics: options.metrics } : {}),
  });
  await archiver.start();
  await server.connected();
  return {
    server,
    archiver,
    logs,
    text: () => lines.join("\n"),
    async waitForLog(pred, timeoutMs = LOG_WAIT_MS) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = logs.find(pred);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no such log line in ${timeoutMs} ms; seen: ${logs.map((l) => String(l.msg)).join(" | ")}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async stop() {
      await archiver.stop();
      await server.close();
    },
  };
}
