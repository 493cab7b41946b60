// Replay's file reader (src/maildir/files.ts) against what is on disk: short and long files, the
// sizes around its first read, a header block longer than that read, a missing file.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { FIRST_READ_BYTES, readHead, readHeaderBytes, readWhole } from "../../src/maildir/files.js";

let dir: string;
before(async () => (dir = await mkdtemp(path.join(os.tmpdir(), "xmd-files-"))));
after(() => rm(dir, { recursive: true, force: true }));

test("a whole file comes back byte for byte, whatever its size", async () => {
  for (const size of [0, 1, 3000, FIRST_READ_BYTES - 1, FIRST_READ_BYTES, FIRST_READ_BYTES + 1, 5 * FIRST_READ_BYTES + 7, 1 << 20]) {
    const file = path.join(dir, `f${size}`);
    const data = randomBytes(size);
    await writeFile(file, data);
    assert.deepEqual(await readWhole(file), data, `${size} bytes`);
    assert.deepEqual(await readHead(file, 100), data.subarray(0, 100), `head of ${size} bytes`);
  }
  await assert.rejects(readWhole(path.join(dir, "missing")), { code: "ENOENT" });
});

test("a header block longer than the first read is read whole", async () => {
  const long = `X-Long: ${"a".repeat(FIRST_READ_BYTES)}\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n\r\nbody\r\n`;
  await writeFile(path.join(dir, "long"), long);
  assert.equal((await readHeaderBytes(path.join(dir, "long"))).toString(), long);
  const short = `Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n\r\n${"b".repeat(2 * FIRST_READ_BYTES)}`;
  await writeFile(path.join(dir, "short"), short);
  assert.equal((await readHeaderBytes(path.join(dir, "short"))).length, FIRST_READ_BYTES, "only the first read for a short block");
});
