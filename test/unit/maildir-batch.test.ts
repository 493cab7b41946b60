// The batched writer (src/maildir/batch-sync.ts): a delivery resolves only once its mail is
// renamed out of tmp/, mails are renamed in the order their names were made, a partial batch is
// committed after the idle time, and a mail whose write cannot complete is never resolved.
import { test } from "node:test";
import assert from "node:assert/strict";
import { openSync, watch } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createMaildirWriter } from "../../src/maildir/index.js";
import { createBatchSync } from "../../src/maildir/batch-sync.js";
import { createDirSyncer } from "../../src/maildir/dir-sync.js";

async function withTmp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "xmd-unit-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test("batched: nothing is visible before the batch commits; then all of it, tmp/ empty", async () => {
  await withTmp(async (dir) => {
    const maildir = path.join(dir, "Maildir");
    const writer = createMaildirWriter({ batch: { size: 4, idleMs: 60_000 } });
    let resolved = 0;
    const first = [0, 1, 2].map((i) => writer.deliver(maildir, Buffer.from(`Subject: ${i}\r\n\r\nbody ${i}\r\n`)).then((d) => ((resolved += 1), d)));
    // Three of four: the batch waits (the idle time is a minute), so none may be in new/ yet.
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(resolved, 0);
    assert.deepEqual(await readdir(path.join(maildir, "new")), []);
    assert.equal((await readdir(path.join(maildir, "tmp"))).length, 3);
    const last = writer.deliver(maildir, Buffer.from("Subject: 3\r\n\r\nbody 3\r\n"), { seen: true });
    const delivered = await Promise.all([...first, last]);
    assert.deepEqual(await readdir(path.join(maildir, "tmp")), []);
    assert.equal((await readdir(path.join(maildir, "new"))).length, 3);
    assert.equal((await readdir(path.join(maildir, "cur"))).length, 1);
    for (const [i, d] of delivered.entries()) assert.equal(await readFile(d.path, "utf8"), `Subject: ${i}\r\n\r\nbody ${i}\r\n`);
    assert.match(delivered[3]!.path, /\/cur\/[^/]+:2,S$/);
  });
});

test("batched: a partial batch commits after the idle time", async () => {
  await withTmp(async (dir) => {
    const maildir = path.join(dir, "Maildir");
    const writer = createMaildirWriter({ batch: { size: 1000, idleMs: 20 } });
    const started = performance.now();
    const delivered = await Promise.all([0, 1].map((i) => writer.deliver(maildir, Buffer.from(`m${i}\r\n`))));
    assert.ok(performance.now() - started < 5_000);
    assert.deepEqual((await readdir(path.join(maildir, "new"))).sort(), delivered.map((d) => path.basename(d.path)).sort());
  });
});

test("batched: renames go in the order the names were made (Dovecot's UID order)", async () => {
  await withTmp(async (dir) => {
    const maildir = path.join(dir, "Maildir");
    // The Maildir made by an unbatched writer: a first mail through `writer` alone would wait out
    // its 60 s idle timer.
    await createMaildirWriter().deliver(maildir, Buffer.from("first\r\n"));
    const writer = createMaildirWriter({ batch: { size: 50, idleMs: 60_000 } });
    // inotify reports the renames into new/ in the order they happened.
    const seen: string[] = [];
    const watcher = watch(path.join(maildir, "new"), (_event, name) => {
      if (name && !seen.includes(name)) seen.push(name);
    });
    // Bigger mails first, so their writes tend to finish last.
    const delivered = await Promise.all(Array.from({ length: 50 }, (_, i) => writer.deliver(maildir, Buffer.alloc((50 - i) * 20_000, 0x61))));
    await new Promise((r) => setTimeout(r, 100));
    watcher.close();
    const q = (name: string) => Number(/Q(\d+)R/.exec(name)![1]);
    assert.deepEqual(seen.map(q), delivered.map((d) => q(path.basename(d.path))).sort((a, b) => a - b));
    assert.equal((await readdir(path.join(maildir, "new"))).length, 51);
  });
});

test("batched: a mail whose folder cannot be written is refused, the others are delivered", async () => {
  await withTmp(async (dir) => {
    const writer = createMaildirWriter({ batch: { size: 2, idleMs: 10 } });
    const good = writer.deliver(path.join(dir, "a", "Maildir"), Buffer.from("ok\r\n"));
    // A regular file where the Maildir's parent should be: mkdir fails, before any batch.
    await import("node:fs/promises").then((fs) => fs.writeFile(path.join(dir, "blocked"), "x"));
    const bad = writer.deliver(path.join(dir, "blocked", "Maildir"), Buffer.from("no\r\n"));
    await assert.rejects(bad);
    const d = await good;
    assert.equal(await readFile(d.path, "utf8"), "ok\r\n");
  });
});

test("batched: 600 first mails at once into a new folder with keywords all arrive (one folder creation, one keyword assignment)", async () => {
  await withTmp(async (dir) => {
    const maildir = path.join(dir, "Maildir");
    const writer = createMaildirWriter({ batch: { size: 256, idleMs: 10 } });
    const delivered = await Promise.all(
      Array.from({ length: 600 }, (_, i) => writer.deliver(maildir, Buffer.from(`m${i}\r\n`), { folder: ["Chats"], seen: true, keywords: ["$XMPP"] })),
    );
    assert.equal(new Set(delivered.map((d) => d.path)).size, 600);
    assert.equal((await readdir(path.join(maildir, ".Chats", "cur"))).length, 600);
    assert.equal(await readFile(path.join(maildir, ".Chats", "dovecot-keywords"), "utf8"), "0 $XMPP\n");
    assert.match(delivered[0]!.path, /:2,Sa$/);
  });
});

test("batched: renames keep the names' order across batches too, when a later batch's fsyncs finish first", async () => {
  await withTmp(async (dir) => {
    for (const sub of ["tmp", "new"]) await mkdir(path.join(dir, sub));
    // The first batch's fsyncs take 300 ms, every later batch's none: without the wait for the
    // batch before, batches 2 to 6 would be renamed (and given UIDs) before batch 1.
    const slow = new Set<number>();
    const fsyncFile = (fd: number) => new Promise<void>((resolve) => setTimeout(resolve, slow.has(fd) ? 300 : 0));
    const batch = createBatchSync({ size: 10, idleMs: 60_000 }, createDirSyncer(), fsyncFile);
    const seen: string[] = [];
    const watcher = watch(path.join(dir, "new"), (_event, name) => {
      if (name && !seen.includes(name)) seen.push(name);
    });
    const names = Array.from({ length: 60 }, (_, i) => `m${String(i).padStart(2, "0")}`);
    const done = names.map((name, order) => {
      const tmp = path.join(dir, "tmp", name);
      const fd = openSync(tmp, "wx");
      if (order < 10) slow.add(fd);
      return batch.add({ fd, tmp, final: path.join(dir, "new", name), order });
    });
    await Promise.all(done);
    await new Promise((r) => setTimeout(r, 100));
    watcher.close();
    assert.deepEqual(seen, names);
  });
});
