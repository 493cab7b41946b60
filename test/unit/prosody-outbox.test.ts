// harness/prosody-outbox.ts reads the Prosody module's outbox log for the integration tests and
// bench:e2e (which waits for it to be empty before it counts). A reader that miscounted would let
// a lost or extra copy through, so its rules are checked here on logs written record by record in
// the module's format (server/prosody/mod_xmpp_maildir.lua, "The outbox, log").
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { groupedConfirmations, outboxCopies, parseOutboxLog } from "../../harness/prosody-outbox.js";

function record(kind: "+" | "-", payload: string): Buffer {
  const bytes = Buffer.from(payload, "utf8");
  return Buffer.concat([Buffer.from(`${kind} ${bytes.length} ${createHash("sha1").update(bytes).digest("hex")}\n`), bytes, Buffer.from("\n")]);
}
const copy = (id: string, seq: number) => record("+", `${id} ${seq} <iq type='set' id='${id}'><body>Grüße\n+ 1 0\n</body></iq>`);

describe("the Prosody outbox log reader", () => {
  test("copies are live until their confirmation; newlines and record-like text inside a copy are payload", () => {
    const log = Buffer.concat([copy("xmd-a", 0), copy("xmd-b", 1), record("-", "xmd-a"), copy("xmd-c", 2)]);
    assert.deepEqual(parseOutboxLog(log), { live: ["xmd-b", "xmd-c"], goodBytes: log.length, tornBytes: 0 });
  });

  test("one confirmation record may list several ids (one per event-loop turn)", () => {
    const log = Buffer.concat([copy("xmd-a", 0), copy("xmd-b", 1), copy("xmd-c", 2), record("-", "xmd-a xmd-c")]);
    assert.deepEqual(parseOutboxLog(log), { live: ["xmd-b"], goodBytes: log.length, tornBytes: 0 });
    assert.deepEqual(groupedConfirmations(Buffer.concat([log, record("-", "xmd-b")])), [["xmd-a", "xmd-c"]], "only the record of several ids");
  });

  test("a torn tail is cut wherever the write stopped: in the header, in the payload, before the final newline", () => {
    const whole = Buffer.concat([copy("xmd-a", 0), copy("xmd-b", 1)]);
    const first = copy("xmd-a", 0).length;
    for (let cut = first + 1; cut < whole.length; cut++) {
      const torn = parseOutboxLog(whole.subarray(0, cut));
      assert.deepEqual(torn.live, ["xmd-a"], `cut at ${cut}`);
      assert.equal(torn.goodBytes, first);
      assert.equal(torn.tornBytes, cut - first);
    }
  });

  test("a record whose checksum does not match ends the log there, whatever follows", () => {
    const bad = copy("xmd-b", 1);
    bad.writeUInt8(bad.readUInt8(bad.length - 3) ^ 0x01, bad.length - 3);
    const log = Buffer.concat([copy("xmd-a", 0), bad, copy("xmd-c", 2)]);
    const parsed = parseOutboxLog(log);
    assert.deepEqual(parsed.live, ["xmd-a"]);
    assert.equal(parsed.tornBytes, bad.length + copy("xmd-c", 2).length);
  });

  describe("over a data directory", () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), "xmd-outbox-unit-"));
      await mkdir(path.join(dir, "example%2etest", "xmpp_maildir_outbox"), { recursive: true });
      await writeFile(path.join(dir, "example%2etest", "xmpp_maildir_outbox.log"), Buffer.concat([copy("xmd-a", 0), copy("xmd-b", 1), record("-", "xmd-b")]));
      // The storage API's internal driver: one file per copy, the name %-encoded.
      await writeFile(path.join(dir, "example%2etest", "xmpp_maildir_outbox", "xmd%2dz.dat"), "return {};\n");
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    test("both outbox kinds are counted", async () => {
      assert.deepEqual((await outboxCopies(dir)).sort(), ["xmd-a", "xmd-z"]);
    });
  });
});
