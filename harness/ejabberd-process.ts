/**
 * Spawning `ejabberdctl foreground` as another user, in its own process group. Unlike
 * server-process.ts, stopping is left to the caller: a SIGTERM would end ejabberdctl's bash
 * before the Erlang node below it has finished, so ejabberd.ts asks the node to stop instead and
 * waits for the whole tree to exit.
 */
import { spawn } from "node:child_process";
import { describeExit, type ExitInfo } from "./server-process.js";

/** Stdout/stderr kept for error messages (a bad config is printed, not logged). */
const OUTPUT_LIMIT_CHARS = 8_000;

export interface UserProcess {
  readonly pid: number;
  /** Resolves with a description ("exited with code 0") once the process has exited. */
  readonly exited: Promise<string>;
  hasExited(): boolean;
  output(): string;
  /** Signals the whole process group (ejabberdctl, erl, beam.smp). */
  killGroup(signal: NodeJS.Signals): void;
}

export interface SpawnAsOptions {
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  owner?: { uid: number; gid: number } | undefined;
}

export function spawnAs(opts: SpawnAsOptions): UserProcess {
  const child = spawn(opts.command, opts.args, {
    cwd: opts.cwd,
    env: opts.env,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    ...(opts.owner ?? {}),
  });
  let output = "";
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString("utf8")).slice(-OUTPUT_LIMIT_CHARS);
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);

  const killGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // ESRCH: the group is already gone.
    }
  };
  // No node outlives the test run, even if a test forgets to stop it.
  const killOnExit = () => killGroup("SIGKILL");
  process.on("exit", killOnExit);

  let done = false;
  const exited = new Promise<string>((resolve) => {
    const finish = (info: ExitInfo) => {
      if (done) return;
      done = true;
      process.removeListener("exit", killOnExit);
      resolve(describeExit(info));
    };
    child.once("error", (error) => finish({ code: null, signal: null, error }));
    child.once("exit", (code, signal) => finish({ code, signal }));
  });

  return { pid: child.pid ?? -1, exited, hasExited: () => done, output: () => output, killGroup };
}
