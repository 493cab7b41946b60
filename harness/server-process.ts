/**
 * Spawning a server in the foreground and stopping it for sure.
 */
import { spawn } from "node:child_process";
import { serverCommand } from "./generation.js";

/** Stdout/stderr kept for error messages (config errors are printed, not logged). */
const OUTPUT_LIMIT_CHARS = 8_000;
/** Prosody and Dovecot each take ~1 s to stop here; beyond this something hangs. */
const STOP_TIMEOUT_MS = 10_000;

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

export interface ServerProcess {
  readonly pid: number;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  hasExited(): boolean;
  /** The last few KB of stdout and stderr. */
  output(): string;
  /** SIGTERM, wait; SIGKILL the whole process group if it hangs. Idempotent. */
  stop(): Promise<void>;
}

export interface SpawnServerOptions {
  command: string;
  args: string[];
  cwd: string;
}

/** "exited with code 1", "killed by SIGKILL", "failed to spawn: ..." */
export function describeExit(info: ExitInfo): string {
  if (info.error) return `failed to spawn: ${info.error.message}`;
  return info.signal ? `killed by ${info.signal}` : `exited with code ${String(info.code)}`;
}

/**
 * Starts a server as the leader of its own process group (detached), so
 * SIGKILL can reach every child it forked (Dovecot has a dozen). While it
 * runs, an 'exit' hook kills the group if the test process ends without
 * stopping it, so no server outlives the test run. Runs the command of the generation under
 * test (generation.ts): the host's, or the one in the other generation's root.
 */
export function spawnServer(opts: SpawnServerOptions): ServerProcess {
  const { command, args } = serverCommand(opts.command, opts.args);
  const child = spawn(command, args, {
    cwd: opts.cwd,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString("utf8")).slice(-OUTPUT_LIMIT_CHARS);
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);

  let exitInfo: ExitInfo | undefined;
  const killGroupOnExit = () => killGroup(child.pid, "SIGKILL");
  process.on("exit", killGroupOnExit);

  const exited = new Promise<ExitInfo>((resolve) => {
    const finish = (info: ExitInfo) => {
      if (exitInfo) return;
      exitInfo = info;
      process.removeListener("exit", killGroupOnExit);
      resolve(info);
    };
    child.once("error", (error) => finish({ code: null, signal: null, error }));
    child.once("exit", (code, signal) => finish({ code, signal }));
  });

  const stop = async () => {
    if (exitInfo) return;
    child.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), STOP_TIMEOUT_MS);
    });
    try {
      if ((await Promise.race([exited, timedOut])) === "timeout") {
        killGroup(child.pid, "SIGKILL");
        await exited;
      }
    } finally {
      clearTimeout(timer);
    }
  };

  return {
    pid: child.pid ?? -1,
    exited,
    hasExited: () => exitInfo !== undefined,
    output: () => output,
    stop,
  };
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}
