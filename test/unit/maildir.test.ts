import { test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { closeSync, fstatSync, watch } from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createMaildirWriter, createNameSource } from "../../src/maildir/index.js";
import { StorageError } from "../../src/errors.js";
import { fsyncFd, syncDir, writeTmp, writeTmpSync } from "../../src/maildir/sync-io.js";

async function withTmp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "xmd-unit-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test("names are unique, carry ,S=<size>, and escape / and : in the host name", () => {
  const names = createNameSource({ hostname: "mail/host:1", pid: 42 });
  const seen = new Set<string>();
  for (let i = 0; i < 10_000; i++) seen.add(names.next(i));
  assert.equal(seen.size, 10_000);
  const name = names.next(1234);
  assert.match(name, /^\d+\.M\d+P42Q\d+R[0-9a-f]{8}\.mail\\057host\\0721,S=1234$/);
  assert.ok(!name.includes("/") && !name.includes(":"));
});

test("delivers into new/ with 0600 files in 0700 cur/new/tmp, and leaves tmp/ empty", async () => {
  await withTmp(async (dir) => {
    const maildir = path.join(dir, "example.org", "alice", "Maildir");
    const writer = createMaildirWriter();
    const message = Buffer.from("Subject: hi\r\n\r\nbody\r\n");
    const delivered = await writer.deliver(maildir, message);
    assert.equal(path.dirname(delivered.path), path.join(maildir, "new"));
    assert.match(path.basename(delivered.path), new RegExp(`,S=${message.length}$`));
    assert.deepEqual(await readFile(delivered.path), message);
    assert.equal((await stat(delivered.path)).mode & 0o777, 0o600);
    for (const sub of ["cur", "new", "tmp"]) {
      assert.equal((await stat(path.join(maildir, sub))).mode & 0o777, 0o700, sub);
    }
    assert.deepEqual(await readdir(path.join(maildir, "tmp")), []);
  });
});

test("a reader watching new/ never sees a partial message", async () => {
  await withTmp(async (dir) => {
    const maildir = path.join(dir, "Maildir");
    const writer = createMaildirWriter();
    await writer.deliver(maildir, Buffer.from("warm-up\r\n"));
    const newDir = path.join(maildir, "new");
    const checks: Promise<void>[] = [];
    const watcher = watch(newDir, (_event, name) => {
      if (!name) return;
      checks.push(
        readFile(path.join(newDir, name)).then(
          (bytes) => {
            const size = Number(/,S=(\d+)$/.exec(name)?.[1]);
            assert.equal(bytes.length, size, `${name} is complete when visible`);
          },
          (err: NodeJS.ErrnoException) => assert.equal(err.code, "ENOENT"),
        ),
      );
    });
    try {
      // Large messages make a torn write likely to be visible if we ever wrote in place.
      const big = Buffer.alloc(2 * 1024 * 1024, "x");
      await Promise.all(Array.from({ length: 20 }, (_, i) => writer.deliver(maildir, Buffer.concat([big, Buffer.from(String(i))]))));
      // inotify's events reach the callback on a later turn of the event loop than the deliveries
      // that caused them may resolve on (under load, some turns later): give the last ones 5 s.
      for (const until = Date.now() + 5000; checks.length < 20 && Date.now() < until; ) await sleep(10);
    } finally {
      watcher.close();
    }
    await Promise.all(checks);
    assert.ok(checks.length >= 20, `watched ${checks.length} events`);
    const files = await readdir(newDir);
    assert.equal(files.length, 21);
    assert.deepEqual(await readdir(path.join(maildir, "tmp")), []);
  });
});

test("a Maildir removed behind our back is created again", async () => {
  await withTmp(async (dir) => {
    const maildir = path.join(dir, "Maildir");
    const writer = createMaildirWriter();
    await writer.deliver(maildir, Buffer.from("one\r\n"));
    await rm(maildir, { recursive: true });
    await writer.deliver(maildir, Buffer.from("two\r\n"));
    assert.equal((await readdir(path.join(maildir, "new"))).length, 1);
  });
});

test("a disk refusal is a StorageError that names the path and leaves nothing behind", { skip: process.getuid?.() === 0 ? "root ignores permissions" : false }, async () => {
  await withTmp(async (dir) => {
    const maildir = path.join(dir, "Maildir");
    const writer = createMaildirWriter();
    await writer.deliver(maildir, Buffer.from("one\r\n"));
    await chmod(path.join(maildir, "tmp"), 0o500);
    await assert.rejects(writer.deliver(maildir, Buffer.from("two\r\n")), (err: unknown) => err instanceof StorageError && err.transient && err.path === maildir && err.reason === "EACCES");
    assert.equal((await readdir(path.join(maildir, "new"))).length, 1);
  });
});

test("any I/O failure surfaces as a StorageError and nothing lands in new/", async () => {
  await withTmp(async (dir) => {
    const maildir = path.join(dir, "Maildir");
    const writer = createMaildirWriter();
    await writer.deliver(maildir, Buffer.from("one\r\n"));
    // Replace tmp/ by a plain file: opening tmp/<name> now fails with ENOTDIR, even for root.
    await rm(path.join(maildir, "tmp"), { recursive: true });
    await writeFile(path.join(maildir, "tmp"), "");
    await assert.rejects(writer.deliver(maildir, Buffer.from("two\r\n")), (err: unknown) => err instanceof StorageError && err.reason === "ENOTDIR" && !err.transient);
    assert.equal((await readdir(path.join(maildir, "new"))).length, 1);
  });
});

test("beforeRename runs with the mail complete in tmp/, and the rename waits for it; if it fails nothing is delivered", async () => {
  await withTmp(async (dir) => {
    const maildir = path.join(dir, "example.org", "alice", "Maildir");
    const writer = createMaildirWriter();
    await writer.deliver(maildir, Buffer.from("Subject: warm\r\n\r\n\r\n"));
    let release!: () => void;
    let seenPath = "";
    const gate = new Promise<void>((resolve) => (release = resolve));
    const pending = writer.deliver(maildir, Buffer.from("Subject: hi\r\n\r\nbody\r\n"), {
      beforeRename: (finalPath) => {
        seenPath = finalPath;
        return gate;
      },
    });
    // The mail is in tmp/ while the hook is still running, but not in new/.
    for (let i = 0; i < 100 && (await readdir(path.join(maildir, "tmp"))).length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal((await readdir(path.join(maildir, "tmp"))).length, 1, "in tmp/ while the hook runs");
    assert.equal((await readdir(path.join(maildir, "new"))).length, 1, "only the first mail is visible");
    release();
    const delivered = await pending;
    assert.equal(delivered.path, seenPath, "the hook was given the final path");
    assert.equal((await readdir(path.join(maildir, "new"))).length, 2);

    await assert.rejects(
      writer.deliver(maildir, Buffer.from("Subject: no\r\n\r\n\r\n"), { beforeRename: () => Promise.reject(Object.assign(new Error("journal full"), { code: "ENOSPC" })) }),
      (err: unknown) => err instanceof StorageError && err.reason === "ENOSPC",
    );
    assert.equal((await readdir(path.join(maildir, "new"))).length, 2, "a failed hook delivers nothing");
    assert.deepEqual(await readdir(path.join(maildir, "tmp")), [], "and leaves nothing in tmp/");
  });
});

// The write path's system calls (src/maildir/sync-io.ts).
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
