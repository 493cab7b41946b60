import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, utimes, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { findInbox, listInbox, splitName } from "../../src/bridge/watch/inbox-files.js";

test("a Maildir name splits into its unique name and its flags", () => {
  assert.deepEqual(splitName("1764600000.M1P2.host,S=10,W=12:2,FS"), { base: "1764600000.M1P2.host,S=10,W=12", flags: "FS" });
  assert.deepEqual(splitName("1764600000.M1P2.host"), { base: "1764600000.M1P2.host", flags: "" });
});

test("the INBOX listing holds new/ and the cur/ mail delivered since the given time, once each", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "xm-inbox-"));
  try {
    for (const sub of ["new", "cur", "tmp"]) await mkdir(path.join(dir, sub));
    const now = Math.floor(Date.now() / 1000);
    await writeFile(path.join(dir, "new", `${now}.M1P1.h`), "x");
    await writeFile(path.join(dir, "cur", `${now}.M2P1.h:2,`), "x");
    await writeFile(path.join(dir, "cur", `${now}.M3P1.h:2,S`), "x");
    await writeFile(path.join(dir, "cur", `${now - 7200}.M4P1.h:2,`), "x");
    // A name without the time in front: its mtime says when it came.
    await writeFile(path.join(dir, "cur", "odd-old:2,"), "x");
    await utimes(path.join(dir, "cur", "odd-old:2,"), now - 7200, now - 7200);
    await writeFile(path.join(dir, "cur", "odd-new:2,"), "x");
    // Renamed between the two listings: in both, kept once, as in cur/.
    await writeFile(path.join(dir, "new", `${now}.M5P1.h`), "x");
    await writeFile(path.join(dir, "cur", `${now}.M5P1.h:2,`), "x");
    const files = await listInbox(dir, (now - 60) * 1000);
    const byBase = new Map(files.map((f) => [f.base, `${f.dir} ${f.flags}`]));
    assert.deepEqual(Object.fromEntries(byBase), {
      [`${now}.M1P1.h`]: "new ",
      [`${now}.M2P1.h`]: "cur ",
      [`${now}.M3P1.h`]: "cur S",
      [`${now}.M5P1.h`]: "cur ",
      "odd-new": "cur ",
    });
    assert.deepEqual(await findInbox(dir, `${now}.M3P1.h`), { base: `${now}.M3P1.h`, dir: "cur", name: `${now}.M3P1.h:2,S`, flags: "S" });
    assert.equal(await findInbox(dir, "nothing"), undefined);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
