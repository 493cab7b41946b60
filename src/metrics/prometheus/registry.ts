// The Prometheus side of src/metrics/recorder.ts: one Registry per component (never prom-client's
// global one, so two in one process, as in the tests, do not collide) with the metrics listed in
// the README ("Metrics"), and the health that /healthz reports.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { ArchiveKind, Metrics } from "../recorder.js";

/** Every metric, ours and prom-client's process metrics, starts with this. */
export const METRIC_PREFIX = "xmpp_maildir_";
/**
 * Store latency buckets, in seconds: an fsync'd write takes 1–10 ms on an idle disk, a queue behind
 * 64 writes or a slow disk takes up to seconds, and the server module gives up on a copy after
 * 30 s (its confirm timeout), so anything past 10 s is simply "too slow".
 */
const STORE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const KINDS: readonly ArchiveKind[] = ["copy", "direct"];

export type Health = { readonly ok: true } | { readonly ok: false; readonly reason: string };

export interface PrometheusMetrics {
  readonly registry: Registry;
  /** What the archive handler and the connection call. */
  readonly metrics: Metrics;
  /** Healthy when connected to the XMPP server with the dedupe journal open. */
  health(): Health;
}

export function createPrometheusMetrics(): PrometheusMetrics {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });

  const stored = new Counter({
    name: `${METRIC_PREFIX}messages_stored_total`,
    help: "Messages in the Maildir: written (status=stored) or already there (status=duplicate), by how they came (kind=copy|direct)",
    labelNames: ["kind", "status"] as const,
    registers,
  });
  const refused = new Counter({
    name: `${METRIC_PREFIX}messages_refused_total`,
    help: "Stanzas refused, by the stanza-error condition sent back (RFC 6120 §8.3.3)",
    labelNames: ["condition"] as const,
    registers,
  });
  const limited = new Counter({
    name: `${METRIC_PREFIX}mail_limited_total`,
    help: "Mails from XMPP refused by a per-user send limit (limit=per-minute|per-day)",
    labelNames: ["limit"] as const,
    registers,
  });
  const errors = new Counter({
    name: `${METRIC_PREFIX}errors_total`,
    help: "Failures to store: kind=storage by errno code (ENOSPC, EACCES, ...), kind=unexpected by error class",
    labelNames: ["kind", "reason"] as const,
    registers,
  });
  const latency = new Histogram({
    name: `${METRIC_PREFIX}store_duration_seconds`,
    help: "Seconds from a stanza's arrival to its mail being in new/ (queueing included), for stored messages",
    labelNames: ["kind"] as const,
    buckets: STORE_BUCKETS,
    registers,
  });
  const inFlight = new Gauge({
    name: `${METRIC_PREFIX}messages_in_flight`,
    help: "Messages being written (state=active, at most 64) or waiting for a write slot (state=queued, at most 1024)",
    labelNames: ["state"] as const,
    registers,
  });
  const connected = new Gauge({
    name: `${METRIC_PREFIX}connected`,
    help: "1 while the XEP-0114 connection to the XMPP server is up, else 0",
    registers,
  });
  const reconnects = new Counter({
    name: `${METRIC_PREFIX}reconnects_total`,
    help: "Times the XEP-0114 connection came up again after it had been up and went down",
    registers,
  });

  const uploads = new Counter({
    name: `${METRIC_PREFIX}upload_fetches_total`,
    help: "Files shared by URL that were fetched (--upload-origins), by result: attached, or the reason it is not (off-list, too-big, not-found, timeout, ...)",
    labelNames: ["result"] as const,
    registers,
  });
  const uploadBytes = new Counter({
    name: `${METRIC_PREFIX}upload_bytes_total`,
    help: "Bytes of shared files fetched and attached to archived mail",
    registers,
  });

  // Series that exist from the start, at 0: a rate() or an alert sees the first increment.
  for (const kind of KINDS) {
    stored.labels(kind, "stored").inc(0);
    stored.labels(kind, "duplicate").inc(0);
    latency.zero({ kind });
  }
  inFlight.labels("active").set(0);
  inFlight.labels("queued").set(0);
  connected.set(0);
  reconnects.inc(0);
  uploads.labels("attached").inc(0);
  uploadBytes.inc(0);

  let online = false;
  let wasOnline = false;
  let journalOpen = false;

  const metrics: Metrics = {
    stored(event) {
      stored.labels(event.kind, event.status).inc();
      if (event.status === "stored" && event.seconds !== undefined) latency.labels(event.kind).observe(event.seconds);
    },
    refused(condition) {
      refused.labels(condition).inc();
    },
    failed(event) {
      errors.labels(event.kind, event.reason).inc();
    },
    inFlight(state) {
      inFlight.labels("active").set(state.active);
      inFlight.labels("queued").set(state.queued);
    },
    connection(state) {
      if (state === "online") {
        if (wasOnline && !online) reconnects.inc();
        wasOnline = true;
      }
      online = state === "online";
      connected.set(online ? 1 : 0);
    },
    journal(state) {
      journalOpen = state === "open";
    },
    upload(event) {
      uploads.labels(event.result).inc();
      if (event.bytes !== undefined) uploadBytes.inc(event.bytes);
    },
    mailLimited(limit) {
      limited.labels(limit).inc();
    },
  };

  return {
    registry,
    metrics,
    health() {
      const reasons = [...(online ? [] : ["not connected to the XMPP server"]), ...(journalOpen ? [] : ["dedupe journal not open"])];
      return reasons.length === 0 ? { ok: true } : { ok: false, reason: reasons.join("; ") };
    },
  };
}
