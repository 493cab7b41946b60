// --encrypted end to end in process: the component on an in-process XEP-0114 server, what the
// server module gets back (the confirmation) and what lands on disk, with each policy.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { COMPONENT as DOMAIN, startArchiverHarness } from "../support/archiver-harness.js";

/** An OMEMO copy as the server module sends it, the message as Conversations builds it (test/fixtures/clients/conversations-omemo.xml). */
const omemoCopy = (id: string) =>
  `<iq type='set' id='${id}' from='example.org' to='${DOMAIN}'><copy xmlns='urn:xmpp-maildir:copy:0' reason='offline'>` +
  `<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from='bob@example.org/c' to='alice@example.org' type='chat' id='m-${id}'>` +
  "<encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1'><key rid='2'>AAAA</key><iv>BBBB</iv></header><payload>CCCC</payload></encrypted>" +
  "<body>I sent you an OMEMO encrypted message but your client doesn’t seem to support that.</body></message></forwarded></copy></iq>";

for (const policy of ["archive", "skip"] as const) {
  test(`--encrypted ${policy}: the copy is confirmed, and ${policy === "archive" ? "stored as a mail naming OMEMO" : "nothing is written; a debug line says why"}`, async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "xmd-encrypted-"));
    const harness = await startArchiverHarness({ dir, secret: "s", flags: { maildir: path.join(dir, "%d", "%n"), encrypted: policy } });
    try {
      harness.server.send(omemoCopy("e1"));
      const reply = await harness.server.waitFor((el) => el.attrs.id === "e1");
      assert.equal(reply.attrs.type, "result", "confirmed either way: the server module does not send it again");
      const newDir = path.join(dir, "example.org", "alice", "new");
      if (policy === "archive") {
        const [file] = await readdir(newDir);
        assert.ok(file);
        const mail = await readFile(path.join(newDir, file), "utf8");
        assert.match(mail, /^Subject: Encrypted message \(OMEMO\)\r$/m);
        assert.match(mail, /^X-XMPP-Encryption: OMEMO\r$/im);
      } else {
        await assert.rejects(readdir(newDir), { code: "ENOENT" });
        const line = harness.logs.find((l) => l.msg === "not archived" && l.id === "e1");
        assert.ok(line, "a debug line for the skipped copy");
        assert.equal(line.level, 20);
        assert.match(String(line.reason), /OMEMO encrypted message \(--encrypted skip\)/);
      }
    } finally {
      await harness.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
}
