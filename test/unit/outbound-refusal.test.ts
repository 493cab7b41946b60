// Only local users may send mail through the component: a remote JID gets `forbidden`, and no
// SMTP connection is even attempted (the smarthost here is a port that refuses connections).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { startArchiverHarness } from "../support/archiver-harness.js";

const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

test("a message to an escaped mail address from a remote JID is refused with forbidden", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "xmd-outbound-"));
  // A listener that counts connections: there must be none.
  let smtpConnections = 0;
  const smtp = net.createServer((s) => {
    smtpConnections += 1;
    s.destroy();
  });
  await new Promise<void>((resolve) => smtp.listen(0, "127.0.0.1", resolve));
  const harness = await startArchiverHarness({ dir, flags: { "smtp-url": `smtp://127.0.0.1:${(smtp.address() as net.AddressInfo).port}` } });
  try {
    harness.server.send(`<message id='r1' type='chat' from='mallory@evil.example/x' to='carol\\40example.net@archive.example.org'><body>spam</body></message>`);
    const reply = await harness.server.waitFor((el) => el.attrs.id === "r1");
    assert.equal(reply.attrs.type, "error");
    assert.ok(reply.getChild("error")?.getChild("forbidden", NS_STANZAS), reply.toString());
    assert.equal(smtpConnections, 0);
    assert.ok(harness.logs.some((l) => l.level === 40 && l.id === "r1"), "a warn line for the refusal");
  } finally {
    await harness.stop();
    await new Promise((resolve) => smtp.close(resolve));
    await rm(dir, { recursive: true, force: true });
  }
});
