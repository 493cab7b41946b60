// Replay throughput: a Maildir of N archived messages → NDJSON (index, MIME parse, stanza parse,
// JSON), against reading the same files raw with the same concurrency, in the same run.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { createLogger } from "../src/log/index.js";
import { listMessages } from "../src/maildir/index.js";
import { createMaildirSource, createPacer, createStreamTarget, NO_PROGRESS, parseSelection, runReplay } from "../src/replay/index.js";
import { mapLimit } from "../src/replay/limit.js";
import { writeArchive } from "../test/support/archive-fixture.js";

const COUNT = Number(process.env.BENCH_COUNT ?? 10_000);
const dir = await mkdtemp(path.join(os.tmpdir(), "xmd-bench-replay-"));
try {
  const maildir = path.join(dir, "Maildir");
  const body = "Lorem ipsum dolor sit amet, consectetur adipiscing elit ☕ ".repeat(12);
  await writeArchive(maildir, Array.from({ length: COUNT }, (_, i) => ({ body: `${i} ${body}`, id: `b${i}`, stamp: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString() })));
  const files = await listMessages(maildir);

  let t = performance.now();
  let bytes = 0;
  await mapLimit(files, 32, async (f) => {
    const data = await readFile(f.path);
    bytes += data.length;
  });
  const rawMs = performance.now() - t;

  let lines = 0;
  const out = new Writable({ write(c: Buffer, _e, cb) { lines += 1; cb(); } });
  t = performance.now();
  const { summary } = await runReplay({
    source: createMaildirSource({ source: maildir, includeMail: false, domains: { componentDomain: "archive.example.org", userDomain: "example.org" } }),
    target: createStreamTarget({ format: "ndjson", output: out, domain: "archive.example.org" }),
    selection: parseSelection({}), checkpoint: undefined, progress: NO_PROGRESS, pacer: createPacer(undefined), concurrency: 16,
    logger: createLogger({ level: "silent" }), dryRun: false,
  });
  const replayMs = performance.now() - t;
  if (summary.replayed !== COUNT || lines !== COUNT) throw new Error(`replayed ${summary.replayed}, wrote ${lines}`);
  const rate = (ms: number) => Math.round(COUNT / (ms / 1000));
  console.log(`${COUNT} messages, ${(bytes / COUNT).toFixed(0)} bytes each`);
  console.log(`raw readFile (32 in flight): ${rawMs.toFixed(0)} ms, ${rate(rawMs)} files/s`);
  console.log(`replay → NDJSON:            ${replayMs.toFixed(0)} ms, ${rate(replayMs)} messages/s (${(rate(replayMs) / rate(rawMs) * 100).toFixed(1)}% of raw reads)`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
