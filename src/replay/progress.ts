// Feedback while a replay runs: a progress bar with rate and ETA on a terminal (cli-progress), and
// elsewhere (cron, systemd, a pipe) one structured log line at a fixed interval.
import cliProgress from "cli-progress";
import type { Logger } from "../log/index.js";

export interface Progress {
  start(total: number): void;
  update(done: number): void;
  stop(): void;
}

/** Rate over the whole run so far: steadier than an instantaneous rate, and what the ETA uses. */
function rateOf(done: number, startedAt: number, now: number): number {
  const seconds = (now - startedAt) / 1000;
  return seconds > 0 ? done / seconds : 0;
}

export function createBarProgress(stream: NodeJS.WritableStream, label = "replay"): Progress {
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: `${label} [{bar}] {percentage}% | {value}/{total} | {rate}/s | ETA {eta_formatted}`,
      hideCursor: true,
      etaBuffer: 50,
      // cli-progress writes nothing unless the stream is a terminal; the CLI chooses this bar only then.
      noTTYOutput: false,
    },
    cliProgress.Presets.shades_classic,
  );
  let startedAt = 0;
  return {
    start(total) {
      startedAt = performance.now();
      bar.start(total, 0, { rate: "0" });
    },
    update(done) {
      bar.update(done, { rate: rateOf(done, startedAt, performance.now()).toFixed(0) });
    },
    stop() {
      bar.stop();
    },
  };
}

export interface LogProgressOptions {
  readonly logger: Logger;
  readonly intervalMs: number;
  readonly now?: () => number;
}

export function createLogProgress(options: LogProgressOptions): Progress {
  const now = options.now ?? (() => performance.now());
  let total = 0;
  let done = 0;
  let startedAt = 0;
  let timer: NodeJS.Timeout | undefined;
  const report = () => {
    const rate = rateOf(done, startedAt, now());
    const etaSeconds = rate > 0 ? Math.round((total - done) / rate) : null;
    options.logger.info({ done, total, percent: total ? Math.floor((done / total) * 100) : 100, perSecond: Math.round(rate), etaSeconds }, "progress");
  };
  return {
    start(n) {
      total = n;
      startedAt = now();
      options.logger.info({ total }, "starting");
      timer = setInterval(report, options.intervalMs);
      timer.unref();
    },
    update(n) {
      done = n;
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}

/** For --quiet and tests. */
export const NO_PROGRESS: Progress = { start() {}, update() {}, stop() {} };
