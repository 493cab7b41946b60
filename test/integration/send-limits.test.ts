// Replies are safe to offer: per-user send limits and the stanza size limit, through the real
// component, Prosody and Postfix. Over a limit the user gets a policy-violation naming the limit
// and when it resets, the log has a warn line, the metric counts it; the count outlives a restart.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { onServers } from "../../harness/generation.js";
import { pollUntil } from "../../harness/poll.js";
import { freePort } from "../../harness/ports.js";
import { COMPONENT, DOMAIN, REMOTE_DOMAIN, startBridgeStack } from "../../harness/smtp-stack.js";
import { makeTempDir, removeDir } from "../../harness/tmp.js";
import { connectClient, type Element, type TestClient } from "../../harness/xmpp-client.js";
import type { ComponentProcess } from "../../harness/component.js";
import { subscribeToComponent } from "../support/bridge-mail.js";

const CAROL_JID = `carol\\40${REMOTE_DOMAIN}@${COMPONENT}`;
const STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

test(onServers("send limits: the third mail of the day is refused with policy-violation, also after a restart; too large is refused; nothing is dropped silently"), async () => {
  const dir = await makeTempDir("xm-limits-");
  const stack = await startBridgeStack({ dir, users: ["alice"], trigger: "fs" });
  let client: TestClient | undefined;
  let component: ComponentProcess | undefined;
  const metricsPort = await freePort();
  const args = ["--smtp-max-per-minute", "2", "--smtp-max-per-day", "2", "--max-stanza-bytes", "4096", "--metrics-port", String(metricsPort)];
  const carolNew = path.join(stack.mailRoot, REMOTE_DOMAIN, "carol", "Maildir", "new");
  const carolMails = () => readdir(carolNew).then((n) => n.length, () => 0);
  const refusal = async (id: string): Promise<Element> => {
    const bounce = await client!.waitForStanza((s) => s.is("message") && s.attrs.type === "error" && s.attrs.id === id, 10_000);
    return bounce.getChild("error")!;
  };
  try {
    component = stack.component(args);
    await component.waitForLog((l) => l.msg === "connected to the XMPP server");
    client = await connectClient({ port: stack.prosody.c2sPort, domain: DOMAIN, username: "alice", password: stack.password });
    await subscribeToComponent(client, component);

    // Too large: refused before it counts.
    const big = await client.sendMessage({ to: CAROL_JID, type: "normal", body: "x".repeat(5000) });
    const tooBig = await refusal(big);
    assert.equal(tooBig.attrs.type, "modify");
    assert.ok(tooBig.getChild("policy-violation", STANZAS));
    assert.match(tooBig.getChildText("text", STANZAS) ?? "", /over the 4096-byte limit \(max-stanza-bytes\)/);

    for (const n of [1, 2]) {
      await client.sendMessage({ to: CAROL_JID, type: "normal", body: `mail ${n}` });
      await component.waitForLog((l) => l.msg === "mail sent" && l.to === `carol@${REMOTE_DOMAIN}` && component!.logs.filter((x) => x.msg === "mail sent").length >= n);
    }
    const third = await client.sendMessage({ to: CAROL_JID, type: "normal", body: "mail 3" });
    const error = await refusal(third);
    assert.equal(error.attrs.type, "wait");
    assert.ok(error.getChild("policy-violation", STANZAS), error.toString());
    assert.match(error.getChildText("text", STANZAS) ?? "", /limit of 2 mails per day \(smtp-max-per-day\); the next can go at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/);
    const warn = await component.waitForLog((l) => l.msg === "mail not sent" && l.id === third);
    assert.equal(warn.level, 40);
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    assert.match(metrics, /^xmpp_maildir_mail_limited_total\{limit="per-day"\} 1$/m);

    // A restart does not hand out a fresh allowance.
    await component.stop();
    component = stack.component(args);
    await component.waitForLog((l) => l.msg.startsWith("user online") && l.user === `alice@${DOMAIN}`);
    const fourth = await client.sendMessage({ to: CAROL_JID, type: "normal", body: "mail 4" });
    assert.match((await refusal(fourth)).getChildText("text", STANZAS) ?? "", /smtp-max-per-day/);

    // Exactly the two allowed mails reached Carol.
    await pollUntil(async () => ((await carolMails()) >= 2 ? true : undefined), { timeoutMs: 15_000, intervalMs: 100, describe: () => `2 mails for carol; postfix:\n${stack.postfix.output()}` });
    assert.equal(await carolMails(), 2);
  } finally {
    await client?.stop().catch(() => undefined);
    await component?.stop().catch(() => undefined);
    await stack.stop();
    await removeDir(dir);
  }
});
