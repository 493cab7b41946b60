// src/maildir/stage-trace.ts: with XMD_STAGE_TRACE set, a live delivery leaves one line with its
// stages in order (what `npm run bench` with BENCH_STAGES=1 reads); unset, nothing is written.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const MAILDIR_INDEX = pathToFileURL(fileURLToPath(new URL("../../src/maildir/index.js", import.meta.url))).href;

/** Delivers two mails in a child process (the trace is set up when the module loads) with `env`. */
async function deliverInChild(dir: string, env: Record<string, string>): Promise<string[]> {
  const script = `
    const { createMaildirWriter } = await import(${JSON.stringify(MAILDIR_INDEX)});
    const writer = createMaildirWriter();
    const out = [];
    for (const i of [1, 2]) out.push((await writer.deliver(${JSON.stringify(path.join(dir, "Maildir"))}, Buffer.from("Subject: " + i + "\\r\\n\\r\\nhi\\r\\n"), { arrivedAt: Date.now(), beforeRename: async () => {} })).path);
    console.log(JSON.stringify(out));`;
  const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script], { env: { PATH: process.env.PATH ?? "", ...env } });
  return JSON.parse(stdout) as string[];
}

test("XMD_STAGE_TRACE: one line per delivery, its stages in order, written by exit", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "xmd-unit-"));
  try {
    const trace = path.join(dir, "stages.ndjson");
    const paths = await deliverInChild(dir, { XMD_STAGE_TRACE: trace });
    const lines = (await readFile(trace, "utf8")).trim().split("\n").map((l) => JSON.parse(l) as Record<string, number | string>);
    const deliveries = lines.filter((l) => "path" in l);
    assert.deepEqual(deliveries.map((d) => d.path), paths);
    for (const d of deliveries) {
      const order = ["arrived", "start", "tmp", "fsync", "journal", "rename", "dir"].map((k) => d[k]);
      for (const t of order) assert.equal(typeof t, "number", JSON.stringify(d));
      for (let i = 1; i < order.length; i++) assert.ok((order[i] as number) >= (order[i - 1] as number) - 1, `stage ${i} before ${i - 1}: ${JSON.stringify(d)}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("without XMD_STAGE_TRACE nothing is recorded", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "xmd-unit-"));
  try {
    const paths = await deliverInChild(dir, {});
    assert.equal(paths.length, 2);
    await assert.rejects(stat(path.join(dir, "stages.ndjson")), { code: "ENOENT" });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
