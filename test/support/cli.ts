// Runs the built CLI as installed (dist/src/cli/bin.cjs, package.json "bin") as a child process
// and collects what it prints.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The installed command: it sizes libuv's thread pool for import and replay, then runs main.js. */
const BIN = fileURLToPath(new URL("../../src/cli/bin.cjs", import.meta.url));

/** A whole replay of a few messages takes well under a second; generous for a busy CI machine. */
const CLI_TIMEOUT_MS = 60_000;

export interface CliOptions {
  readonly env?: Record<string, string>;
  readonly uid?: number;
  readonly gid?: number;
  /** Written to the CLI's standard input, which is then closed (an export piped in). */
  readonly stdin?: string;
}

export interface CliRun {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

export function startCli(args: string[], options: CliOptions = {}): CliRun {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...options.env },
    stdio: [options.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    ...(options.uid !== undefined ? { uid: options.uid, gid: options.gid ?? options.uid } : {}),
  });
  if (options.stdin !== undefined) {
    // The CLI may stop reading early (a bad export): EPIPE is its answer, not a test failure.
    child.stdin!.on("error", () => undefined);
    child.stdin!.end(options.stdin);
  }
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill("SIGKILL"), CLI_TIMEOUT_MS);
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once("close", (code: number | null) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
  return { child, exited };
}

export function runCli(args: string[], options: CliOptions = {}) {
  return startCli(args, options).exited;
}
