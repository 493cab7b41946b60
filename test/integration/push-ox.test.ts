// Dovecot's own OX push_notification driver feeding --watch push: the push route that needs no
// Lua. It PUTs JSON with "user" and "folder" (the Lua script POSTs), and it fires only for users
// whose server METADATA entry was set with `doveadm mailbox metadata set -s ""`, as the README
// and examples/dovecot-push-ox.conf (examples/dovecot-2.4/ for 2.4) tell the admin.
import { test } from "node:test";
import { onServers } from "../../harness/generation.js";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { COMPONENT, DOMAIN, startBridgeStack } from "../../harness/smtp-stack.js";
import { makeTempDir, removeDir } from "../../harness/tmp.js";
import { connectClient, type TestClient } from "../../harness/xmpp-client.js";
import type { ComponentProcess } from "../../harness/component.js";
import { pushedWithSubject, rawMail, subscribeToComponent } from "../support/bridge-mail.js";

/** The OX driver's METADATA key (push-notification-driver-ox.c, OX_METADATA_KEY). */
const OX_METADATA_KEY = "/private/vendor/vendor.dovecot/http-notify";
/** A delivered mail reaches the online user's screen within 2 s (as with the Lua driver). */
const PUSH_DEADLINE_MS = 2_000;

test(onServers("--watch push with Dovecot's OX driver (PUT): pushed for users with the METADATA entry, not for others"), async () => {
  const dir = await makeTempDir("xm-push-ox-");
  const stack = await startBridgeStack({ dir, users: ["alice", "bob"], trigger: "push", pushDriver: "ox" });
  const clients: TestClient[] = [];
  let component: ComponentProcess | undefined;
  try {
    const alice = `alice@${DOMAIN}`;
    const bob = `bob@${DOMAIN}`;
    // The README's command, for alice only: -s "" is the server entry the OX driver reads.
    await stack.dovecot.doveadm(["mailbox", "metadata", "set", "-u", alice, "-s", "", OX_METADATA_KEY, `user=${alice}`]);
    const entry = await stack.dovecot.doveadm(["mailbox", "metadata", "get", "-u", alice, "-s", "", OX_METADATA_KEY]);
    assert.equal(entry.trim(), `user=${alice}`);

    component = stack.component();
    await component.waitForLog((l) => l.msg === "connected to the XMPP server");
    for (const username of ["alice", "bob"]) {
      const client = await connectClient({ port: stack.prosody.c2sPort, domain: DOMAIN, username, password: stack.password });
      clients.push(client);
      await subscribeToComponent(client, component);
    }
    const [aliceClient, bobClient] = clients as [TestClient, TestClient];

    // bob has no METADATA entry: the OX driver sends nothing for him, so nothing is pushed.
    await stack.deliver(bob, rawMail({ from: "carol@example.net", to: bob, subject: "for bob", messageId: "<ox-b@example.net>", text: "b" }));
    const sent = Date.now();
    await stack.deliver(alice, rawMail({ from: "Carol <carol@example.net>", to: alice, subject: "OX lunch?", messageId: "<ox-a@example.net>", text: "noon?" }));
    const pushed = await aliceClient.waitForStanza(pushedWithSubject("OX lunch?"), 5_000);
    assert.ok(Date.now() - sent < PUSH_DEADLINE_MS, `pushed after ${Date.now() - sent} ms`);
    assert.equal(pushed.attrs.from, `carol\\40example.net@${COMPONENT}`);
    assert.match(pushed.getChildText("body") ?? "", /noon\?/);

    // bob's delivery came first and is long done: had the driver fired for him, he would have it.
    const normal = (c: TestClient) => c.received.filter((s) => s.is("message") && s.attrs.type === "normal").map((s) => s.getChildText("subject"));
    assert.deepEqual(normal(bobClient), []);
    assert.deepEqual(normal(aliceClient), ["OX lunch?"]);
    // Dovecot logged no failed push (a 405 from a POST-only endpoint shows here).
    const log = await readFile(stack.dovecot.logPath, "utf8");
    assert.deepEqual(log.split("\n").filter((l) => /push-notification|OX|http-client/i.test(l) && /error|warning|fail/i.test(l)), []);
  } finally {
    for (const c of clients) await c.stop().catch(() => undefined);
    await component?.stop().catch(() => undefined);
    await stack.stop();
    await removeDir(dir);
  }
});
