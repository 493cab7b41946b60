import { test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, fstatSync, watch } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createMaildirWriter } from "../../src/maildir/index.js";
import { fsyncFd, syncDir, writeTmp, writeTmpSync } from "../../src/maildir/sync-io.js";

async function withTmp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "xmd-unit-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

for (const [name, write] of [
  ["writeTmp", writeTmp],
  ["writeTmpSync", async (file: string, bytes: Buffer) => writeTmpSync(file, bytes)],
] as const) {
  test(`${name}: the whole message in a new 0600 file, left open for its fsync; an existing name is never overwritten`, async () => {
    await withTmp(async (dir) => {
      const file = path.join(dir, "mail");
      const bytes = Buffer.alloc(300_000, "x");
      const fd = await write(file, bytes);
      try {
        assert.equal(fstatSync(fd).size, bytes.length, "open, and all of it written");
        await fsyncFd(fd);
      } finally {
        closeSync(fd);
      }
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      assert.deepEqual(await readFile(file), bytes);

      await writeFile(path.join(dir, "taken"), "keep me");
      await assert.rejects(write(path.join(dir, "taken"), Buffer.from("other")), (err: NodeJS.ErrnoException) => err.code === "EEXIST");
      assert.equal(await readFile(path.join(dir, "taken"), "utf8"), "keep me", "the existing file is untouched");
    });
  });
}

test("syncDir fsyncs a directory and fails with the directory's error when it is gone", async () => {
  await withTmp(async (dir) => {
    await syncDir(dir);
    await assert.rejects(syncDir(path.join(dir, "missing")), (err: NodeJS.ErrnoException) => err.code === "ENOENT");
  });
});

test("mails released by the journal together are renamed in the order they were released (UID order = order said)", async () => {
  await withTmp(async (dir) => {
    const maildir = path.join(dir, "Maildir");
    const writer = createMaildirWriter();
    await writer.deliver(maildir, Buffer.from("Subject: warm\r\n\r\n\r\n"));
    await mkdir(path.join(maildir, "new"), { recursive: true });
    const renamed: string[] = [];
    const watcher = watch(path.join(maildir, "new"), (_event, file) => {
      if (file && !renamed.includes(file)) renamed.push(file);
    });
    try {
      const count = 40;
      const gates: Array<() => void> = [];
      let ready!: () => void;
      const allWaiting = new Promise<void>((resolve) => (ready = resolve));
      const finals: string[] = [];
      const pending = Array.from({ length: count }, (_, i) =>
        writer.deliver(maildir, Buffer.from(`Subject: ${i}\r\n\r\n${"body ".repeat(i * 50)}\r\n`), {
          // Like the journal's group commit: each waits for its P line, and one commit releases all.
          beforeRename: (finalPath) =>
            new Promise<void>((resolve) => {
              finals[i] = path.basename(finalPath);
              gates[i] = resolve;
              if (gates.filter(Boolean).length === count) ready();
            }),
        }),
      );
      await allWaiting;
      for (const release of gates) release();
      await Promise.all(pending);
      for (let i = 0; i < 100 && renamed.length < count + 1; i++) await new Promise((r) => setTimeout(r, 10));
      const order = renamed.filter((n) => finals.includes(n));
      assert.deepEqual(order, finals, "renamed in the order released");
      assert.equal((await readdir(path.join(maildir, "new"))).length, count + 1);
    } finally {
      watcher.close();
    }
  });
});
