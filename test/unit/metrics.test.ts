// The metrics (src/metrics): what a scrape shows after events, the HTTP endpoint's routes and
// health, and the archiver's in-flight gauge and latency against an in-process XEP-0114 server.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { register as globalRegistry } from "prom-client";
import { ConfigError } from "../../src/errors.js";
import { createLogger } from "../../src/log/index.js";
import { createMaildirWriter, type MaildirWriter } from "../../src/maildir/index.js";
import { noMetrics } from "../../src/metrics/index.js";
import { createMetricsEndpoint, createPrometheusMetrics } from "../../src/metrics/prometheus/index.js";
import { COMPONENT, startArchiverHarness, type ArchiverHarness } from "../support/archiver-harness.js";
import { sample, sampleNames } from "../support/prometheus.js";

const silent = createLogger({ level: "silent" });
const STORED = "xmpp_maildir_messages_stored_total";
const DURATION = "xmpp_maildir_store_duration_seconds";
const IN_FLIGHT = "xmpp_maildir_messages_in_flight";

describe("the Prometheus registry", () => {
  test("counts what the archive path reports, with fixed labels only", async () => {
    const { registry, metrics } = createPrometheusMetrics();
    const before = await registry.metrics();
    // Series that exist before anything happened, at 0.
    assert.equal(sample(before, STORED, { kind: "copy", status: "stored" }), 0);
    assert.equal(sample(before, STORED, { kind: "direct", status: "duplicate" }), 0);
    assert.equal(sample(before, `${DURATION}_count`, { kind: "copy" }), 0);
    assert.equal(sample(before, "xmpp_maildir_connected"), 0);
    assert.equal(sample(before, "xmpp_maildir_reconnects_total"), 0);

    metrics.stored({ kind: "copy", status: "stored", seconds: 0.004 });
    metrics.stored({ kind: "copy", status: "stored", seconds: 3 });
    metrics.stored({ kind: "copy", status: "duplicate" });
    metrics.stored({ kind: "direct", status: "stored", seconds: 0.0005 });
    metrics.refused("jid-malformed");
    metrics.refused("jid-malformed");
    metrics.refused("not-allowed");
    metrics.failed({ kind: "storage", reason: "ENOSPC" });
    metrics.failed({ kind: "unexpected", reason: "TypeError" });
    metrics.inFlight({ active: 5, queued: 2 });
    metrics.mailLimited("per-day");

    const text = await registry.metrics();
    assert.equal(sample(text, STORED, { kind: "copy", status: "stored" }), 2);
    assert.equal(sample(text, STORED, { kind: "copy", status: "duplicate" }), 1);
    assert.equal(sample(text, STORED, { kind: "direct", status: "stored" }), 1);
    assert.equal(sample(text, "xmpp_maildir_messages_refused_total", { condition: "jid-malformed" }), 2);
    assert.equal(sample(text, "xmpp_maildir_messages_refused_total", { condition: "not-allowed" }), 1);
    assert.equal(sample(text, "xmpp_maildir_errors_total", { kind: "storage", reason: "ENOSPC" }), 1);
    assert.equal(sample(text, "xmpp_maildir_errors_total", { kind: "unexpected", reason: "TypeError" }), 1);
    assert.equal(sample(text, "xmpp_maildir_mail_limited_total", { limit: "per-day" }), 1);
    assert.equal(sample(text, IN_FLIGHT, { state: "active" }), 5);
    assert.equal(sample(text, IN_FLIGHT, { state: "queued" }), 2);
    // The histogram: a duplicate is not a store; buckets from 1 ms to 10 s.
    assert.equal(sample(text, `${DURATION}_count`, { kind: "copy" }), 2);
    assert.equal(sample(text, `${DURATION}_bucket`, { kind: "copy", le: "0.005" }), 1);
    assert.equal(sample(text, `${DURATION}_bucket`, { kind: "copy", le: "2.5" }), 1);
    assert.equal(sample(text, `${DURATION}_bucket`, { kind: "copy", le: "5" }), 2);
    assert.equal(sample(text, `${DURATION}_bucket`, { kind: "direct", le: "0.001" }), 1);
    assert.equal(sample(text, `${DURATION}_bucket`, { kind: "direct", le: "10" }), 1);
    assert.ok(Math.abs(sample(text, `${DURATION}_sum`, { kind: "copy" })! - 3.004) < 1e-9);

    // Process metrics, under our prefix only; our registry, never prom-client's global one.
    const names = sampleNames(text);
    assert.ok(names.has("xmpp_maildir_process_cpu_seconds_total"));
    assert.ok(names.has("xmpp_maildir_nodejs_heap_size_used_bytes"));
    assert.deepEqual([...names].filter((n) => !n.startsWith("xmpp_maildir_")), []);
    assert.equal((await globalRegistry.metrics()).trim(), "");
  });

  test("the connected gauge, reconnects (only after having been up) and health", async () => {
    const { registry, metrics, health } = createPrometheusMetrics();
    const read = async () => {
      const text = await registry.metrics();
      return { connected: sample(text, "xmpp_maildir_connected"), reconnects: sample(text, "xmpp_maildir_reconnects_total") };
    };
    assert.deepEqual(health(), { ok: false, reason: "not connected to the XMPP server; dedupe journal not open" });
    metrics.journal("open");
    assert.deepEqual(health(), { ok: false, reason: "not connected to the XMPP server" });
    // Failed attempts before the first connection are not reconnects.
    metrics.connection("offline");
    metrics.connection("offline");
    metrics.connection("online");
    assert.deepEqual(await read(), { connected: 1, reconnects: 0 });
    assert.deepEqual(health(), { ok: true });
    metrics.connection("offline");
    assert.deepEqual(await read(), { connected: 0, reconnects: 0 });
    assert.equal(health().ok, false);
    metrics.connection("offline");
    metrics.connection("online");
    metrics.connection("online");
    assert.deepEqual(await read(), { connected: 1, reconnects: 1 });
    metrics.journal("closed");
    assert.deepEqual(health(), { ok: false, reason: "dedupe journal not open" });
  });

  test("the no-op stands in for metrics off", () => {
    assert.equal(noMetrics.stored({ kind: "copy", status: "stored", seconds: 1 }), undefined);
    assert.ok(Object.isFrozen(noMetrics));
  });
});

describe("the HTTP endpoint", () => {
  test("GET /metrics and /healthz; 404 elsewhere, 405 for other methods", async () => {
    const prometheus = createPrometheusMetrics();
    const endpoint = createMetricsEndpoint({ host: "127.0.0.1", port: 0, logger: silent, prometheus });
    const port = await endpoint.start();
    const url = (p: string) => `http://127.0.0.1:${port}${p}`;
    try {
      assert.equal(endpoint.metrics, prometheus.metrics);
      endpoint.metrics.refused("policy-violation");
      const res = await fetch(url("/metrics"));
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
      assert.equal(sample(await res.text(), "xmpp_maildir_messages_refused_total", { condition: "policy-violation" }), 1);

      const down = await fetch(url("/healthz"));
      assert.equal(down.status, 503);
      assert.equal(await down.text(), "not connected to the XMPP server; dedupe journal not open\n");
      endpoint.metrics.journal("open");
      endpoint.metrics.connection("online");
      const up = await fetch(url("/healthz?probe=1"));
      assert.equal(up.status, 200);
      assert.equal(await up.text(), "ok\n");

      const missing = await fetch(url("/"));
      assert.equal(missing.status, 404);
      await missing.body?.cancel();
      const post = await fetch(url("/metrics"), { method: "POST", body: "x" });
      assert.equal(post.status, 405);
      assert.equal(post.headers.get("allow"), "GET");
      await post.body?.cancel();
    } finally {
      await endpoint.stop();
    }
    await assert.rejects(fetch(url("/healthz")), "nothing listens after stop()");
  });

  test("a port in use is a config error naming --metrics-port", async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      const endpoint = createMetricsEndpoint({ host: "127.0.0.1", port, logger: silent });
      await assert.rejects(endpoint.start(), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.key, "metrics-port");
        assert.match(err.message, new RegExp(`^metrics-port: 127\\.0\\.0\\.1:${port} is already in use \\(EADDRINUSE\\); choose a free --metrics-port`));
        return true;
      });
      await endpoint.stop();
    } finally {
      await new Promise<void>((resolve) => holder.close(() => resolve()));
    }
  });

  test("a host that is not ours is a config error naming --metrics-host", async () => {
    // 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never an address of this machine.
    const endpoint = createMetricsEndpoint({ host: "192.0.2.1", port: 0, logger: silent });
    await assert.rejects(endpoint.start(), (err: unknown) => err instanceof ConfigError && err.key === "metrics-host" && /EADDRNOTAVAIL/.test(err.message));
  });
});

describe("the archiver's metrics", () => {
  /** 64 writes run at once (src/archive/handler.ts); the rest wait in the queue. */
  const ACTIVE = 64;
  const COPIES = ACTIVE + 6;
  /** How long every write is held after the last copy arrived: all latencies exceed 0.25 s. */
  const HOLD_MS = 300;

  test("in-flight writes and queued stanzas, and latency from arrival (queueing included)", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "xmd-metrics-"));
    const { registry, metrics } = createPrometheusMetrics();
    const real = createMaildirWriter({ fsync: false });
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const held: MaildirWriter = {
      async deliver(maildir, bytes, options) {
        await gate;
        return real.deliver(maildir, bytes, options);
      },
    };
    let harness: ArchiverHarness | undefined;
    try {
      harness = await startArchiverHarness({ dir, writer: held, metrics, logLevel: "silent" });
      const { server } = harness;
      for (let i = 0; i < COPIES; i++) {
        server.send(
          `<iq type='set' id='m${i}' from='example.org' to='${COMPONENT}'><copy xmlns='urn:xmpp-maildir:copy:0' reason='offline'>` +
            `<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from='bob@example.net/r' to='alice@example.org' type='chat' id='b${i}'><body>${i}</body></message></forwarded></copy></iq>`,
        );
      }
      const deadline = Date.now() + 10_000;
      let text = await registry.metrics();
      while (sample(text, IN_FLIGHT, { state: "queued" }) !== COPIES - ACTIVE) {
        assert.ok(Date.now() < deadline, `the copies never all reached the limiter:\n${text}`);
        await new Promise((r) => setTimeout(r, 10));
        text = await registry.metrics();
      }
      assert.equal(sample(text, IN_FLIGHT, { state: "active" }), ACTIVE);
      assert.equal(sample(text, `${DURATION}_count`, { kind: "copy" }), 0);
      await new Promise((r) => setTimeout(r, HOLD_MS));
      open();
      for (let i = 0; i < COPIES; i++) assert.equal((await server.waitFor((el) => el.attrs.id === `m${i}`)).attrs.type, "result");

      text = await registry.metrics();
      assert.equal(sample(text, IN_FLIGHT, { state: "active" }), 0);
      assert.equal(sample(text, IN_FLIGHT, { state: "queued" }), 0);
      assert.equal(sample(text, STORED, { kind: "copy", status: "stored" }), COPIES);
      assert.equal(sample(text, `${DURATION}_count`, { kind: "copy" }), COPIES);
      assert.equal(sample(text, `${DURATION}_bucket`, { kind: "copy", le: "0.25" }), 0, "every store waited at least HOLD_MS from its arrival");
      assert.equal(sample(text, `${DURATION}_bucket`, { kind: "copy", le: "10" }), COPIES);
      assert.equal(sample(text, "xmpp_maildir_connected"), 1);
    } finally {
      open();
      await harness?.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
