// The HTTP endpoint of --metrics-port (node:http): GET /metrics in Prometheus' text format, and
// GET /healthz for a load balancer or systemd watchdog script. Nothing else is served.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { ConfigError, ListenError } from "../../errors.js";
import { close, listen } from "../../http/server.js";
import type { Logger } from "../../log/index.js";
import type { Metrics } from "../recorder.js";
import { createPrometheusMetrics, type PrometheusMetrics } from "./registry.js";

/** A scrape is answered from memory in milliseconds; a client that takes longer is not Prometheus. */
const REQUEST_TIMEOUT_MS = 5_000;
const TEXT = "text/plain; charset=utf-8";

export interface MetricsEndpoint {
  /** What the archive handler and the connection call. */
  readonly metrics: Metrics;
  /**
   * Listens and resolves with the port (port 0: any free one). A port in use, or a host that is
   * not ours, is a ConfigError naming --metrics-port or --metrics-host.
   */
  start(): Promise<number>;
  stop(): Promise<void>;
}

export function createMetricsEndpoint(options: {
  host: string;
  port: number;
  logger: Logger;
  /** The registry to serve; a new one by default. */
  prometheus?: PrometheusMetrics;
}): MetricsEndpoint {
  const { host, port } = options;
  const logger = options.logger.child({ part: "metrics" });
  const { registry, metrics, health } = options.prometheus ?? createPrometheusMetrics();
  let server: Server | undefined;

  function reply(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
    res.writeHead(status, { "Content-Type": TEXT, "Cache-Control": "no-store", ...headers }).end(body);
  }

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const pathname = (req.url ?? "/").split("?")[0];
    if (pathname !== "/metrics" && pathname !== "/healthz") return reply(res, 404, "not found\n");
    if (req.method !== "GET") return reply(res, 405, "method not allowed\n", { Allow: "GET" });
    if (pathname === "/healthz") {
      const state = health();
      return state.ok ? reply(res, 200, "ok\n") : reply(res, 503, `${state.reason}\n`);
    }
    registry.metrics().then(
      (text) => reply(res, 200, text, { "Content-Type": registry.contentType }),
      (err: Error) => {
        logger.warn({ err: err.message }, "cannot collect metrics");
        reply(res, 500, "cannot collect metrics\n");
      },
    );
  };

  /** Why listen() failed, as the config key to change. */
  function listenError(err: NodeJS.ErrnoException): ConfigError | ListenError {
    const where = `${host}:${port}`;
    switch (err.code) {
      case "EADDRINUSE":
        return new ConfigError("metrics-port", `${where} is already in use (EADDRINUSE); choose a free --metrics-port or stop what listens there`);
      case "EACCES":
        return new ConfigError("metrics-port", `${where} may not be listened on by this user (EACCES); choose a --metrics-port from 1024 up`);
      case "EADDRNOTAVAIL":
      case "ENOTFOUND":
      case "EAI_AGAIN":
        return new ConfigError("metrics-host", `${host} is not an address of this machine (${err.code}); set --metrics-host to 127.0.0.1 or a local interface's address`);
      default:
        return new ListenError("metrics", where, err);
    }
  }

  return {
    metrics,
    async start() {
      const s = createServer(onRequest);
      s.requestTimeout = REQUEST_TIMEOUT_MS;
      s.headersTimeout = REQUEST_TIMEOUT_MS;
      const bound = await listen(s, port, host).catch((err: NodeJS.ErrnoException) => {
        throw listenError(err);
      });
      // After listening, an error on the server (not a client's) is logged, never thrown.
      s.on("error", (err: Error) => logger.error({ err: err.message }, "metrics endpoint error"));
      server = s;
      logger.info({ host, port: bound }, "serving metrics on /metrics and /healthz");
      return bound;
    },
    async stop() {
      const s = server;
      server = undefined;
      await close(s);
    },
  };
}
