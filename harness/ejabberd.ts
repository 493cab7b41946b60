/**
 * A real ejabberd (the Debian package) for integration tests: its own config, node name, cookie,
 * Mnesia spool, logs and HOME in a temp dir, on free loopback ports, started in the foreground
 * with `ejabberdctl foreground` as an admin would, and stopped with `ejabberdctl stop`. No epmd
 * and nothing under /etc/ejabberd or /var/lib/ejabberd is used.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { chown, mkdir, readdir, stat, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { logSince, logTail } from "./log-tail.js";
import { repoRoot } from "./paths.js";
import { pollUntil } from "./poll.js";
import { freePorts, waitForPort } from "./ports.js";
import { probeStreamFeatures } from "./xmpp-probe.js";
import { EJABBERD_INETRC, ejabberdConfig, ejabberdCtlConfig, ejabberdPaths, type EjabberdConfigInput, type EjabberdPaths } from "./ejabberd-config.js";
import { spawnAs, type UserProcess } from "./ejabberd-process.js";
import { serverCommand, systemAccount } from "./generation.js";

const execFileAsync = promisify(execFile);

/** ejabberd 23.01 and 24.12 start in about 1 s here; generous for a loaded 2-core CI machine. */
const START_TIMEOUT_MS = 60_000;
/** A ctl command boots a small Erlang node (~0.6 s) and makes one RPC. */
const CTL_TIMEOUT_MS = 30_000;
/** `ejabberdctl stop` then shutdown takes ~2 s; beyond this something hangs, so SIGKILL. */
const STOP_TIMEOUT_MS = 20_000;
const READY_POLL_INTERVAL_MS = 100;
/** Copies are confirmed within milliseconds each; a busy CI box with a backlog needs longer. */
const OUTBOX_DRAIN_TIMEOUT_MS = 60_000;
/** The system account of the Debian package; ejabberdctl refuses any other user but root. */
const EJABBERD_USER = "ejabberd";
/** The module's name as ejabberd knows it (the contrib module dir and the .beam). */
export const EJABBERD_MODULE = "mod_xmpp_maildir";

/**
 * Lines ejabberd (23.01, 24.12) writes when a listener, a module or the config fails; it may keep running
 * without the failed part, which would make a test fail later and far from the cause.
 */
const STARTUP_FAILURE = /^.*\[(?:critical|error)\].*$/gm;

export interface EjabberdUser {
  username: string;
  password: string;
}

export interface EjabberdOptions {
  dir: string;
  domain: string;
  componentDomain: string;
  componentSecret: string;
  users: EjabberdUser[];
  /** Modules besides the base ones, with options. mod_xmpp_maildir is built and installed. */
  modules?: EjabberdConfigInput["modules"];
  extraConfig?: string;
  /** Run mod_http_upload (XEP-0363) as upload.<domain> on a free HTTP port (ejabberd-config.ts). */
  httpUpload?: { readonly maxSize?: number; readonly access?: string };
  extraComponents?: EjabberdConfigInput["extraComponents"];
  /**
   * false: ejabberd alone, without mod_xmpp_maildir (not built, not installed, not configured),
   * e.g. bench/e2e.ts's "ejabberd alone" row. Default true.
   */
  withModule?: boolean;
  /** Where the module's .erl files and .spec are; default server/ejabberd (harness/old-release.ts gives an older one). */
  moduleSource?: string;
}

export interface EjabberdServer {
  readonly c2sPort: number;
  readonly componentPort: number;
  /** With httpUpload: the upload listener's HTTP port on 127.0.0.1. */
  readonly httpPort: number | undefined;
  readonly logPath: string;
  readonly configPath: string;
  readonly dir: string;
  /** The Erlang node name (for ejabberdctl --node). */
  readonly node: string;
  /** Registers one more account (ejabberdctl register; the server must be running). */
  addUser(user: EjabberdUser): Promise<void>;
  /** Runs any ejabberdctl command against this node and returns its stdout. */
  ctl(args: string[]): Promise<string>;
  /** `ejabberdctl stop`, then SIGKILL after a timeout. Idempotent. */
  stop(): Promise<void>;
  /**
   * While stopped: rebuilds the module from another source dir (default server/ejabberd), so the
   * next start() loads that code with the same Mnesia data (a module upgrade).
   */
  replaceModule(source?: string): Promise<void>;
  /** The pid of the node's Erlang VM (beam.smp), where ejabberd's CPU time is spent. */
  beamPid(): number;
  /** SIGKILL to the whole node: a crash, no chance to flush anything. */
  kill(): Promise<void>;
  /** Starts it again after stop() or kill(): same ports, node, config and Mnesia data. */
  start(): Promise<void>;
}

interface RunAs {
  uid: number;
  gid: number;
}

/** Root runs ejabberd as its package's user, as the init script does; anyone else as themselves. */
function ejabberdAccount(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  // Read from the generation's own passwd: the root's ejabberd uid differs from the host's.
  const account = systemAccount(EJABBERD_USER);
  if (!account) throw new Error(`no '${EJABBERD_USER}' user: install the Debian package ejabberd (npm run system-deps)`);
  return account;
}

/**
 * Builds the module with the repository's script into `out` (a dir laid out like an installed
 * contrib module), so each test runs the code in the checkout.
 */
export async function buildEjabberdModule(out: string, source?: string): Promise<void> {
  try {
    // In the generation's root when there is one: built against that ejabberd's headers.
    const { command, args } = serverCommand("sh", [path.join(repoRoot(), "scripts", "build-ejabberd-module.sh"), out, ...(source === undefined ? [] : [source])]);
    await execFileAsync(command, args, { timeout: CTL_TIMEOUT_MS });
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`scripts/build-ejabberd-module.sh failed: ${e.message}\n${e.stdout ?? ""}${e.stderr ?? ""}`, { cause: err });
  }
}

async function chownTree(dir: string, owner: RunAs): Promise<void> {
  await chown(dir, owner.uid, owner.gid);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(p, owner);
    else await chown(p, owner.uid, owner.gid);
  }
}

async function fileSize(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

function ctlEnv(paths: EjabberdPaths): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
    HOME: paths.home,
    CONTRIB_MODULES_PATH: paths.modules,
    CONTRIB_MODULES_CONF_DIR: paths.modulesConf,
  };
}

function ctlArgs(paths: EjabberdPaths): string[] {
  return ["--config-dir", paths.dir, "--ctl-config", paths.ctlConfig, "--logs", paths.logs, "--spool", paths.spool];
}

export async function startEjabberd(opts: EjabberdOptions): Promise<EjabberdServer> {
  const paths = ejabberdPaths(opts.dir);
  const owner = ejabberdAccount();
  const [c2sPort, componentPort, distPort, httpPort] = await freePorts(opts.httpUpload ? 4 : 3);
  const httpUpload = opts.httpUpload && httpPort !== undefined ? { port: httpPort, docroot: path.join(opts.dir, "upload"), ...opts.httpUpload } : undefined;
  if (c2sPort === undefined || componentPort === undefined || distPort === undefined) throw new Error("could not allocate ports");
  const node = `xmd-${randomBytes(4).toString("hex")}@localhost`;

  for (const d of [paths.dir, paths.spool, paths.logs, paths.home, paths.modules, paths.modulesConf, ...(httpUpload ? [httpUpload.docroot] : [])]) await mkdir(d, { recursive: true, mode: 0o750 });
  const withModule = opts.withModule ?? true;
  if (withModule) {
    await buildEjabberdModule(path.join(opts.dir, "build", EJABBERD_MODULE), opts.moduleSource);
    await symlink(path.join(opts.dir, "build", EJABBERD_MODULE), path.join(paths.modules, EJABBERD_MODULE));
  }
  await writeFile(
    paths.config,
    ejabberdConfig({
      c2sPort,
      componentPort,
      domain: opts.domain,
      componentDomain: opts.componentDomain,
      componentSecret: opts.componentSecret,
      modules: opts.modules,
      extraComponents: opts.extraComponents,
      extraConfig: opts.extraConfig,
      httpUpload,
    }),
  );
  await writeFile(paths.ctlConfig, ejabberdCtlConfig({ paths, node, distPort, cookie: randomBytes(16).toString("hex") }));
  await writeFile(paths.inetrc, EJABBERD_INETRC);
  if (owner) await chownTree(opts.dir, owner);

  const ctl = async (args: string[]): Promise<string> => {
    try {
      const run = serverCommand("ejabberdctl", [...ctlArgs(paths), ...args], owner);
      const { stdout } = await execFileAsync(run.command, run.args, {
        cwd: paths.dir,
        env: ctlEnv(paths),
        timeout: CTL_TIMEOUT_MS,
        ...(run.owner ?? {}),
      });
      return stdout;
    } catch (err) {
      const e = err as Error & { stdout?: string; stderr?: string };
      throw new Error(`ejabberdctl ${args.join(" ")} failed: ${e.message}\n${e.stdout ?? ""}${e.stderr ?? ""}`, { cause: err });
    }
  };

  let proc: UserProcess | undefined;
  const start = async () => {
    if (proc && !proc.hasExited()) throw new Error("ejabberd is already running");
    const logOffset = await fileSize(paths.log);
    const run = serverCommand("ejabberdctl", [...ctlArgs(paths), "foreground"], owner);
    proc = spawnAs({ command: run.command, args: run.args, cwd: paths.dir, env: ctlEnv(paths), owner: run.owner });
    const running = proc;
    const aborter = new AbortController();
    void running.exited.then((info) => aborter.abort(new Error(`ejabberd exited (${info})`)));
    try {
      // Ready when c2s answers for our domain and the log (written asynchronously by OTP's
      // logger) shows our module started; fail fast on an error line.
      // Without our module, "started" is ejabberd's own line once every module and listener is up.
      const moduleStarted = withModule ? new RegExp(`Copying offline and normal messages.* to ${opts.componentDomain.replaceAll(".", "\\.")}`) : /ejabberd \S+ is started in the node/;
      let seen = "";
      await pollUntil(
        async () => {
          seen = await logSince(paths.log, logOffset);
          const failures = seen.match(STARTUP_FAILURE);
          if (failures) throw new Error(`ejabberd logged errors while starting:\n${failures.join("\n")}`);
          return moduleStarted.test(seen) && (await probeStreamFeatures(c2sPort, opts.domain)) ? true : undefined;
        },
        {
          timeoutMs: START_TIMEOUT_MS,
          intervalMs: READY_POLL_INTERVAL_MS,
          signal: aborter.signal,
          describe: () => (moduleStarted.test(seen) ? `no <stream:features> for ${opts.domain} on 127.0.0.1:${c2sPort}` : `${EJABBERD_MODULE} did not log that it started`),
        },
      );
      await waitForPort(componentPort, { timeoutMs: START_TIMEOUT_MS, signal: aborter.signal });
      if (httpUpload) await waitForPort(httpUpload.port, { timeoutMs: START_TIMEOUT_MS, signal: aborter.signal });
    } catch (err) {
      await stopProcess(running, ctl);
      throw new Error(
        `ejabberd did not start: ${(err as Error).message}\n--- ejabberdctl output ---\n${running.output()}\n--- last lines of ${paths.log} ---\n${await logTail(paths.log)}`,
        { cause: err },
      );
    }
  };
  const stop = async () => {
    if (proc) await stopProcess(proc, ctl);
  };
  const kill = async () => {
    if (!proc || proc.hasExited()) return;
    proc.killGroup("SIGKILL");
    await proc.exited;
  };

  await start();
  try {
    for (const user of opts.users) await ctl(["register", user.username, opts.domain, user.password]);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    c2sPort,
    componentPort,
    httpPort: httpUpload?.port,
    logPath: paths.log,
    configPath: paths.config,
    dir: opts.dir,
    node,
    addUser: async (user) => {
      await ctl(["register", user.username, opts.domain, user.password]);
    },
    ctl,
    beamPid: () => findBeamPid(node),
    replaceModule: async (source) => {
      if (proc && !proc.hasExited()) throw new Error("replaceModule: stop ejabberd first");
      const build = path.join(opts.dir, "build", EJABBERD_MODULE);
      await buildEjabberdModule(build, source);
      if (owner) await chownTree(build, owner);
    },
    stop,
    kill,
    start,
  };
}

/**
 * The node's beam.smp, found by its node name on the command line (ejabberdctl passes -sname or
 * -name <node>). Under a generation root it runs chrooted, but /proc is the host's.
 */
export function findBeamPid(node: string): number {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readFileSync(`/proc/${entry}/comm`, "utf8").startsWith("beam")) continue;
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      // Its own name, not a ctl node's argument naming it.
      if (argv.some((arg, i) => (arg === "-sname" || arg === "-name") && argv[i + 1] === node)) found.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  if (found.length !== 1) throw new Error(`expected one beam.smp for node ${node}, found ${found.length}`);
  return found[0]!;
}

/** The admin's way first (ejabberdctl stop: Mnesia is closed cleanly), SIGKILL if it hangs. */
async function stopProcess(proc: UserProcess, ctl: (args: string[]) => Promise<string>): Promise<void> {
  if (proc.hasExited()) return;
  await ctl(["stop"]).catch(() => proc.killGroup("SIGTERM"));
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), STOP_TIMEOUT_MS);
  });
  try {
    if ((await Promise.race([proc.exited.then(() => "exited" as const), timedOut])) === "timeout") {
      proc.killGroup("SIGKILL");
      await proc.exited;
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Copies in mod_xmpp_maildir's outbox (unconfirmed), read from the running node's Mnesia. */
export async function ejabberdOutboxSize(server: EjabberdServer): Promise<number> {
  const info = await server.ctl(["mnesia_table_info", "xmpp_maildir_outbox"]);
  const size = /\{size,(\d+)\}/.exec(info)?.[1];
  if (size === undefined) throw new Error(`no size in mnesia_table_info output:\n${info.slice(0, 500)}`);
  return Number(size);
}

/** Polls the outbox until every copy is confirmed (or refused): then the Maildirs are final. */
export async function waitForEmptyOutbox(server: EjabberdServer, timeoutMs = OUTBOX_DRAIN_TIMEOUT_MS): Promise<void> {
  let last = -1;
  await pollUntil(async () => ((last = await ejabberdOutboxSize(server)) === 0 ? true : undefined), {
    timeoutMs,
    intervalMs: READY_POLL_INTERVAL_MS,
    describe: () => `mod_xmpp_maildir's outbox still holds ${last} copies`,
  });
}
