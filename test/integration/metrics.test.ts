// `xmpp-maildir run --metrics-port`: the real CLI against the in-process XEP-0114 server, scraped
// over loopback like Prometheus would. Copies stored, sent again, refused and failing on disk; a
// direct message stored and one refused; /healthz before and after the connection; a dropped
// connection counted as a reconnect; and a taken port refused at start with exit 2.
import { test } from "node:test";
import { onServers } from "../../harness/generation.js";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { startComponent, type ComponentProcess } from "../../harness/component.js";
import { pollUntil } from "../../harness/poll.js";
import { freePorts } from "../../harness/ports.js";
import { makeTempDir, removeDir } from "../../harness/tmp.js";
import { runCli } from "../support/cli.js";
import { startFakeServer, type FakeServer } from "../support/fake-server.js";
import { sample, sampleNames } from "../support/prometheus.js";

const COMPONENT = "archive.example.org";
const SECRET = "metrics-secret";
/** The component's first retries come after 0.5, 1 and 2 s; generous for a busy CI machine. */
const WAIT_MS = 20_000;
const POLL_MS = 50;

const copy = (id: string, to: string, body: string, from = "example.org") =>
  `<iq type='set' id='${id}' from='${from}' to='${COMPONENT}'><copy xmlns='urn:xmpp-maildir:copy:0' reason='offline'>` +
  `<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from='bob@example.net/r' to='${to}' type='chat' id='m-${id}'><body>${body}</body></message></forwarded></copy></iq>`;

test(onServers("run --metrics-port: counters, latency, in-flight, health and reconnects as Prometheus sees them"), async () => {
  const dir = await makeTempDir("xmd-metrics-");
  const [xmppPort, metricsPort] = await freePorts(2) as [number, number];
  const url = (p: string) => `http://127.0.0.1:${metricsPort}${p}`;
  const scrape = async () => {
    const res = await fetch(url("/metrics"));
    assert.equal(res.status, 200);
    return res.text();
  };
  const health = async () => {
    const res = await fetch(url("/healthz"));
    return { status: res.status, body: await res.text() };
  };
  /** Polls /metrics until `pred` holds; the scrape it held for. */
  const scrapeUntil = (pred: (text: string) => boolean, what: string) => {
    let last = "";
    return pollUntil(async () => ((last = await scrape()), pred(last) ? last : undefined), { timeoutMs: WAIT_MS, intervalMs: POLL_MS, describe: () => `${what}; last scrape:\n${last}` });
  };

  // carol's Maildir cannot be made: its parent is a file (ENOTDIR, even for root).
  await mkdir(path.join(dir, "mail", "example.org"), { recursive: true });
  await writeFile(path.join(dir, "mail", "example.org", "carol"), "");
  let component: ComponentProcess | undefined;
  let server: FakeServer | undefined;
  try {
    // Nothing listens on the XMPP port yet: the component keeps retrying, and is not healthy.
    component = startComponent({
      xmppPort,
      domain: COMPONENT,
      maildir: path.join(dir, "mail", "%d", "%n", "Maildir"),
      secret: SECRET,
      args: ["--state-dir", path.join(dir, "state"), "--metrics-port", String(metricsPort)],
    });
    const serving = await component.waitForLog((l) => l.msg === "serving metrics on /metrics and /healthz");
    assert.equal(serving.host, "127.0.0.1");
    assert.equal(serving.port, metricsPort);
    const before = await health();
    assert.equal(before.status, 503);
    assert.match(before.body, /^not connected to the XMPP server/);
    const idle = await scrape();
    assert.equal(sample(idle, "xmpp_maildir_connected"), 0);

    server = await startFakeServer({ domain: COMPONENT, secret: SECRET, port: xmppPort });
    await server.connected();
    await pollUntil(async () => ((await health()).status === 200 ? true : undefined), { timeoutMs: WAIT_MS, intervalMs: POLL_MS, describe: () => "/healthz never said 200" });
    assert.deepEqual(await health(), { status: 200, body: "ok\n" });

    // Two copies stored, one sent again, one forged, one that fails on disk.
    server.send(copy("c1", "alice@example.org", "one"));
    server.send(copy("c2", "alice@example.org", "two"));
    for (const id of ["c1", "c2"]) assert.equal((await server.waitFor((el) => el.attrs.id === id)).attrs.type, "result");
    server.send(copy("c1", "alice@example.org", "one"));
    await server.waitFor((el) => el.attrs.id === "c1" && server!.received.filter((e) => e.attrs.id === "c1").length === 2);
    server.send(copy("c3", "mallory@example.org", "forged", "bob@example.org/r"));
    server.send(copy("c4", "carol@example.org", "lost?"));
    for (const id of ["c3", "c4"]) assert.equal((await server.waitFor((el) => el.attrs.id === id)).attrs.type, "error");
    // A direct message stored, and one refused.
    server.send(`<message from='carol@example.net/x' to='dave@${COMPONENT}' id='d1'><body>hello dave</body></message>`);
    server.send(`<message from='carol@example.net/x' to='..@${COMPONENT}' id='d2'><body>escape</body></message>`);
    await server.waitFor((el) => el.attrs.id === "d2");
    await component.waitForLog((l) => l.msg === "stored" && l.user === "dave@example.org");

    const text = await scrape();
    const stored = (kind: string, status: string) => sample(text, "xmpp_maildir_messages_stored_total", { kind, status });
    assert.equal(stored("copy", "stored"), 2);
    assert.equal(stored("copy", "duplicate"), 1);
    assert.equal(stored("direct", "stored"), 1);
    assert.equal(stored("direct", "duplicate"), 0);
    assert.equal(sample(text, "xmpp_maildir_messages_refused_total", { condition: "not-allowed" }), 1);
    assert.equal(sample(text, "xmpp_maildir_messages_refused_total", { condition: "jid-malformed" }), 1);
    assert.equal(sample(text, "xmpp_maildir_errors_total", { kind: "storage", reason: "ENOTDIR" }), 1);
    assert.equal(sample(text, "xmpp_maildir_store_duration_seconds_count", { kind: "copy" }), 2);
    assert.equal(sample(text, "xmpp_maildir_store_duration_seconds_count", { kind: "direct" }), 1);
    assert.equal(sample(text, "xmpp_maildir_store_duration_seconds_bucket", { kind: "copy", le: "+Inf" }), 2);
    assert.ok(sample(text, "xmpp_maildir_store_duration_seconds_sum", { kind: "copy" })! > 0);
    assert.equal(sample(text, "xmpp_maildir_messages_in_flight", { state: "active" }), 0);
    assert.equal(sample(text, "xmpp_maildir_messages_in_flight", { state: "queued" }), 0);
    assert.equal(sample(text, "xmpp_maildir_connected"), 1);
    assert.equal(sample(text, "xmpp_maildir_reconnects_total"), 0);
    assert.ok(sample(text, "xmpp_maildir_process_cpu_seconds_total")! > 0);
    assert.deepEqual([...sampleNames(text)].filter((n) => !n.startsWith("xmpp_maildir_")), [], "every metric has the prefix");
    assert.ok(!/alice|dave|example\.org/.test(text), "no user or JID in any label");

    // The server drops the stream; the component comes back by itself, once.
    server.dropConnection();
    await server.connected(2);
    const again = await scrapeUntil((t) => sample(t, "xmpp_maildir_connected") === 1 && sample(t, "xmpp_maildir_reconnects_total") === 1, "connected again after the drop, one reconnect");
    assert.equal(sample(again, "xmpp_maildir_messages_stored_total", { kind: "copy", status: "stored" }), 2, "counters survive a reconnect");
    assert.equal((await health()).status, 200);

    assert.equal((await fetch(url("/metrics"), { method: "POST" })).status, 405);
    assert.equal((await fetch(url("/other"))).status, 404);
    assert.equal(await component.stop(), 0);
    await assert.rejects(fetch(url("/healthz")), "the endpoint closes with the component");
  } finally {
    await component?.stop();
    await server?.close();
    await removeDir(dir);
  }
});

test(onServers("run --metrics-port on a taken port: one line naming --metrics-port, exit 2, nothing connects"), async () => {
  const dir = await makeTempDir("xmd-metrics-busy-");
  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
  const taken = (holder.address() as net.AddressInfo).port;
  const server = await startFakeServer({ domain: COMPONENT, secret: SECRET });
  try {
    const result = await runCli(
      ["run", "--domain", COMPONENT, "--maildir", path.join(dir, "%d", "%n"), "--state-dir", path.join(dir, "state"), "--xmpp-port", String(server.port), "--metrics-port", String(taken)],
      { env: { XMPP_MAILDIR_SECRET: SECRET } },
    );
    assert.equal(result.code, 2, result.stderr);
    assert.equal(result.stderr, `xmpp-maildir: metrics-port: 127.0.0.1:${taken} is already in use (EADDRINUSE); choose a free --metrics-port or stop what listens there\n`);
    assert.equal(server.connections, 0, "the component never connected");
  } finally {
    await server.close();
    await new Promise<void>((resolve) => holder.close(() => resolve()));
    await removeDir(dir);
  }
});
