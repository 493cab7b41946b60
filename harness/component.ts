// Runs the real CLI (`xmpp-maildir run`) as a child process, as the mail user, the way the systemd
// unit does, and collects its JSON log lines so tests can wait on what it reports.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import path from "node:path";
import { repoRoot } from "./paths.js";

/** Generous: the first start also pays for Node's module loading on a busy CI machine. */
const LOG_WAIT_TIMEOUT_MS = 20_000;
const EXIT_WAIT_TIMEOUT_MS = 15_000;

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface ComponentProcess {
  readonly child: ChildProcess;
  readonly logs: LogLine[];
  readonly stderr: () => string;
  waitForLog(pred: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Sends the signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface ComponentOptions {
  readonly xmppPort: number;
  readonly domain: string;
  readonly maildir: string;
  readonly secret: string;
  readonly uid?: number;
  readonly gid?: number;
  readonly args?: string[];
  readonly env?: Record<string, string>;
  /** Another build's dist/src/cli/main.js (an older release: harness/old-release.ts); default this checkout's. */
  readonly cli?: string;
}

/** The installed command (package.json "bin"): it sizes libuv's thread pool, then runs main.js, so tests run what admins run. */
export function cliPath(): string {
  return path.join(repoRoot(), "dist", "src", "cli", "bin.cjs");
}

/**
 * The component runs as the mail user; if that user cannot read this checkout (a clone under
 * /root, say) the child would die with a bare EACCES. Say what is wrong instead.
 */
function assertReadableAs(uid: number, gid: number, cli: string): void {
  const probe = spawnSync(process.execPath, ["-e", `require("fs").accessSync(${JSON.stringify(cli)}, 4)`], { uid, gid, encoding: "utf8" });
  if (probe.status !== 0) {
    throw new Error(`the mail user (uid ${uid}) cannot read ${cli}: put the checkout where every user may read it (e.g. not under /root). ${probe.stderr.split("\n")[0] ?? ""}`);
  }
}

export function startComponent(options: ComponentOptions): ComponentProcess {
  const cli = options.cli ?? cliPath();
  if (options.uid !== undefined && options.uid !== process.getuid?.()) assertReadableAs(options.uid, options.gid ?? options.uid, cli);
  const child = spawn(
    process.execPath,
    // BENCH_COMPONENT_NODE_ARGS: V8 flags that NODE_OPTIONS refuses (--single-threaded-gc), for an A/B.
    [...(process.env.BENCH_COMPONENT_NODE_ARGS?.split(" ").filter((a) => a !== "") ?? []), cli, "run", "--xmpp-port", String(options.xmppPort), "--domain", options.domain, "--maildir", options.maildir, "--log-level", "debug", ...(options.args ?? [])],
    {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", XMPP_MAILDIR_SECRET: options.secret, ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
      ...(options.uid !== undefined ? { uid: options.uid } : {}),
      ...(options.gid !== undefined ? { gid: options.gid } : {}),
    },
  );
  const logs: LogLine[] = [];
  const waiters = new Set<() => void>();
  let stderr = "";
  let buffered = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    buffered += chunk;
    let nl;
    while ((nl = buffered.indexOf("\n")) !== -1) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        logs.push({ level: 0, msg: line });
      }
    }
    for (const wake of waiters) wake();
  });
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code: number | null) => {
    for (const wake of waiters) wake();
    resolve(code);
  }));

  return {
    child,
    logs,
    stderr: () => stderr,
    waitForLog(pred, timeoutMs = LOG_WAIT_TIMEOUT_MS) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = logs.find(pred);
          if (found) return done(() => resolve(found));
          if (child.exitCode !== null || child.signalCode !== null) {
            return done(() => reject(new Error(`component exited (${child.exitCode ?? child.signalCode}) before the expected log line; stderr: ${stderr}\nlogs: ${logs.map((l) => l.msg).join(" | ")}`)));
          }
        };
        const timer = setTimeout(() => done(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for a log line; seen: ${logs.map((l) => l.msg).join(" | ")}; stderr: ${stderr}`))), timeoutMs);
        const done = (fn: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          fn();
        };
        waiters.add(check);
        check();
      });
    },
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), EXIT_WAIT_TIMEOUT_MS);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
