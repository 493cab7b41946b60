// Shared directory fsyncs: a rename is only durable after an fsync that STARTED after it, so a
// caller never gets away with the one already running; callers that arrive meanwhile share the
// next one.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createDirSyncer } from "../../src/maildir/dir-sync.js";

function controlledFsync() {
  const calls: { dir: string; finish: (err?: Error) => void }[] = [];
  const fsyncDir = (dir: string): Promise<void> =>
    new Promise((resolve, reject) => calls.push({ dir, finish: (err) => (err ? reject(err) : resolve()) }));
  return { calls, fsyncDir };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("shared directory fsync", () => {
  test("callers that arrive while an fsync runs wait for the next one, and share it", async () => {
    const { calls, fsyncDir } = controlledFsync();
    const syncer = createDirSyncer(fsyncDir);
    const done: string[] = [];
    const first = syncer.sync("/m/new").then(() => done.push("first"));
    await tick();
    assert.equal(calls.length, 1);
    const later = Array.from({ length: 10 }, (_, i) => syncer.sync("/m/new").then(() => done.push(`later${i}`)));
    await tick();
    assert.equal(calls.length, 1, "no second fsync while the first runs");
    calls[0]!.finish();
    await first;
    await tick();
    assert.deepEqual(done, ["first"], "the running fsync may predate their renames: it does not count for them");
    assert.equal(calls.length, 2, "one more fsync for all ten");
    calls[1]!.finish();
    await Promise.all(later);
    assert.equal(done.length, 11);
    assert.equal(calls.length, 2);
  });

  test("different directories are synced separately", async () => {
    const { calls, fsyncDir } = controlledFsync();
    const syncer = createDirSyncer(fsyncDir);
    const a = syncer.sync("/a/new");
    const b = syncer.sync("/b/new");
    await tick();
    assert.deepEqual(calls.map((c) => c.dir), ["/a/new", "/b/new"]);
    for (const c of calls) c.finish();
    await Promise.all([a, b]);
  });

  test("a failed fsync fails every caller that waited on it, and the next caller tries again", async () => {
    const { calls, fsyncDir } = controlledFsync();
    const syncer = createDirSyncer(fsyncDir);
    const first = syncer.sync("/m/new");
    await tick();
    const waiting = [syncer.sync("/m/new"), syncer.sync("/m/new")];
    calls[0]!.finish();
    await first;
    await tick();
    calls[1]!.finish(Object.assign(new Error("I/O error"), { code: "EIO" }));
    for (const w of waiting) await assert.rejects(w, { code: "EIO" });
    const again = syncer.sync("/m/new");
    await tick();
    assert.equal(calls.length, 3);
    calls[2]!.finish();
    await again;
  });

  test("one caller at a time gets one fsync each", async () => {
    const { calls, fsyncDir } = controlledFsync();
    const syncer = createDirSyncer(fsyncDir);
    for (let i = 0; i < 3; i++) {
      const p = syncer.sync("/m/new");
      await tick();
      calls[i]!.finish();
      await p;
    }
    assert.equal(calls.length, 3);
  });
});
