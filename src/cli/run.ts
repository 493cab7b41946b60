import { createApp } from "../app.js";
import { describeDelivery, loadRunConfig } from "../config/index.js";
import { createLogger } from "../log/index.js";

/** A clean shutdown finishes writes in flight; past this, something hangs and we exit anyway. */
const SHUTDOWN_TIMEOUT_MS = 10_000;

export async function runCommand(input: { flags: Record<string, string | undefined>; configFile: string | undefined }): Promise<void> {
  const config = loadRunConfig({ flags: input.flags, env: process.env, configFile: input.configFile });
  const logger = createLogger({ level: config.logLevel });
  let stopping: Promise<void> | undefined;
  // Loaded only when asked for: prom-client adds about 50 ms to every start.
  const endpoint = config.metrics
    ? (await import("../metrics/prometheus/index.js")).createMetricsEndpoint({ ...config.metrics, logger })
    : undefined;

  const app = createApp({
    config,
    logger,
    ...(endpoint ? { metrics: endpoint.metrics } : {}),
    onFatal: (err) => {
      logger.fatal({ code: err.code }, err.message);
      process.exitCode = 1;
      void shutdown("fatal");
    },
  });

  function shutdown(why: string): Promise<void> {
    stopping ??= (async () => {
      logger.info({ signal: why }, "shutting down");
      const timer = setTimeout(() => {
        logger.error({ timeoutMs: SHUTDOWN_TIMEOUT_MS }, "shutdown timed out; exiting");
        process.exit(1);
      }, SHUTDOWN_TIMEOUT_MS);
      timer.unref();
      await app.stop();
      await endpoint?.stop();
      logger.info("stopped");
      logger.flush();
      // The signal handlers stay: a SIGTERM that comes while the last handles close (a supervisor
      // stopping a component that is already exiting after a fatal error) must not turn exit code
      // 1 into death by signal. Something still holding the loop open meets the timer above.
    })();
    return stopping;
  }
  const onSignal = (signal: NodeJS.Signals) => void shutdown(signal);
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);

  logger.info(
    {
      domain: config.domain,
      userDomain: config.userDomain,
      maildir: config.maildir,
      deliver: describeDelivery(config.delivery),
      xmpp: `${config.xmppHost}:${config.xmppPort}`,
    },
    "starting",
  );
  // Before connecting: a port in use is a config error (exit 2), and /healthz says 503 until the
  // journal is open and the stream is up.
  await endpoint?.start();
  try {
    await app.start();
  } catch (err) {
    // The listener would keep the process alive after the error is printed.
    await endpoint?.stop();
    throw err;
  }
}
