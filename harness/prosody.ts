/**
 * A real Prosody for integration tests: its own config, data and log in a
 * temp dir, on free loopback ports, in the foreground under our control.
 */
import { execFile } from "node:child_process";
import { mkdir, stat, writeFile } from "node:fs/promises";
import { promisify } from "node:util";
import { freePorts, waitForPort } from "./ports.js";
import { logSince, logTail } from "./log-tail.js";
import { pollUntil } from "./poll.js";
import { probeStreamFeatures } from "./xmpp-probe.js";
import { prosodyConfig, prosodyPaths, type ProsodyLogLevel, type ProsodyPaths } from "./prosody-config.js";
import { describeExit, spawnServer, type ServerProcess } from "./server-process.js";
import { serverCommand } from "./generation.js";

const execFileAsync = promisify(execFile);

/** prosodyctl takes ~50 ms; it loads the whole config, so allow for a slow CI box. */
const PROSODYCTL_TIMEOUT_MS = 15_000;
/** Prosody answers within ~0.1 s here; generous for a loaded 2-core CI machine. */
const START_TIMEOUT_MS = 20_000;
/** Cheap loopback round trips; a started server is noticed almost at once. */
const READY_POLL_INTERVAL_MS = 50;

export interface ProsodyUser {
  username: string;
  password: string;
}

export interface ProsodyOptions {
  dir: string;
  domain: string;
  componentDomain: string;
  componentSecret: string;
  users: ProsodyUser[];
  /** Directory (or directories) with extra Prosody modules, e.g. prosodyPluginDir(). */
  pluginPath?: string | readonly string[];
  /** Modules to enable besides BASE_MODULES. */
  modules?: string[];
  /** Lua lines placed inside the VirtualHost section. */
  extraHostConfig?: string;
  /** Lua lines for the global section, before any host. */
  extraGlobalConfig?: readonly string[];
  /**
   * Default "debug". Startup checks need only info lines ("Activated service"); a benchmark runs
   * at "info" as a deployment does, since debug writes several lines per stanza.
   */
  logLevel?: ProsodyLogLevel;
  /** Run mod_http_file_share (XEP-0363) as upload.<domain> on a free HTTP port (prosody-config.ts). */
  httpFileShare?: { readonly sizeLimit?: number; readonly access?: readonly string[] };
}

export interface ProsodyServer {
  c2sPort: number;
  componentPort: number;
  /** With httpFileShare: the upload service's HTTP port on 127.0.0.1. */
  httpPort: number | undefined;
  logPath: string;
  configPath: string;
  dir: string;
  /** Registers one more account (works while Prosody runs, too). */
  addUser(user: ProsodyUser): Promise<void>;
  /** Stops Prosody (SIGTERM, then SIGKILL after a timeout). Idempotent. */
  stop(): Promise<void>;
  /** Starts it again after stop(): same ports, config and data. */
  start(): Promise<void>;
}

/**
 * Registers an account with prosodyctl. With run_as_root = true in the
 * config, prosodyctl does not try to switch to the `prosody` user, so this
 * works as root on a temp dir that user could not write.
 */
export async function registerProsodyUser(configPath: string, domain: string, user: ProsodyUser): Promise<void> {
  try {
    const { command, args } = serverCommand("prosodyctl", ["--config", configPath, "register", user.username, domain, user.password]);
    await execFileAsync(command, args, { timeout: PROSODYCTL_TIMEOUT_MS });
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(
      `prosodyctl register ${user.username}@${domain} failed: ${e.message}\n${e.stdout ?? ""}${e.stderr ?? ""}`,
      { cause: err },
    );
  }
}

async function fileSize(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

/**
 * Prosody (0.12, 13.0) logs these and keeps running: a port some other process
 * grabbed between freePorts() and Prosody's bind, or a module (e.g. the
 * product's) that failed to load. Either would make a test fail later and
 * far from the cause, so startup fails here instead.
 */
const STARTUP_FAILURE = /^.* (?:modulemanager|portmanager)\terror\t.*$/gm;

function startupErrors(log: string): Error | undefined {
  const errors = log.match(STARTUP_FAILURE);
  return errors ? new Error(`Prosody could not load a module or open a port:\n${errors.join("\n")}`) : undefined;
}

/**
 * Waits until c2s answers a stream header for our domain (so startup has
 * finished: every startup line is in the log by then), failing fast on
 * startup errors in what this start appended to the log.
 */
async function waitUntilReady(
  paths: ProsodyPaths,
  logOffset: number,
  domain: string,
  ports: { c2s: number; component: number; http?: number },
  signal: AbortSignal,
): Promise<void> {
  await pollUntil(
    async () => {
      const failure = startupErrors(await logSince(paths.log, logOffset));
      if (failure) throw failure;
      return (await probeStreamFeatures(ports.c2s, domain)) ? true : undefined;
    },
    {
      timeoutMs: START_TIMEOUT_MS,
      intervalMs: READY_POLL_INTERVAL_MS,
      signal,
      describe: () => `no <stream:features> for ${domain} on 127.0.0.1:${ports.c2s}`,
    },
  );
  await waitForPort(ports.component, { timeoutMs: START_TIMEOUT_MS, signal });
  const log = await logSince(paths.log, logOffset);
  const failure = startupErrors(log);
  if (failure) throw failure;
  const missing = Object.entries(ports).filter(
    ([name, port]) => !log.includes(`Activated service '${name}' on [127.0.0.1]:${port}`),
  );
  if (missing.length > 0) {
    throw new Error(`Prosody did not activate ${missing.map(([n, p]) => `${n} on port ${p}`).join(", ")}`);
  }
}

async function launch(
  paths: ProsodyPaths,
  dir: string,
  domain: string,
  ports: { c2s: number; component: number; http?: number },
): Promise<ServerProcess> {
  const logOffset = await fileSize(paths.log);
  const proc = spawnServer({ command: "prosody", args: ["--config", paths.config, "-F"], cwd: dir });
  const aborter = new AbortController();
  void proc.exited.then((info) => aborter.abort(new Error(`prosody ${describeExit(info)}`)));
  try {
    await waitUntilReady(paths, logOffset, domain, ports, aborter.signal);
    return proc;
  } catch (err) {
    await proc.stop();
    throw new Error(
      `Prosody did not start: ${(err as Error).message}\n` +
        `--- prosody output ---\n${proc.output()}\n--- last lines of ${paths.log} ---\n${await logTail(paths.log)}`,
      { cause: err },
    );
  }
}

export async function startProsody(opts: ProsodyOptions): Promise<ProsodyServer> {
  const paths = prosodyPaths(opts.dir);
  const [c2sPort, componentPort, httpPort] = await freePorts(opts.httpFileShare ? 3 : 2);
  if (c2sPort === undefined || componentPort === undefined) throw new Error("could not allocate ports");
  const httpFileShare = opts.httpFileShare && httpPort !== undefined ? { port: httpPort, ...opts.httpFileShare } : undefined;

  await mkdir(paths.data, { recursive: true, mode: 0o750 });
  await mkdir(paths.certs, { recursive: true });
  await writeFile(
    paths.config,
    prosodyConfig({
      paths,
      c2sPort,
      componentPort,
      domain: opts.domain,
      componentDomain: opts.componentDomain,
      componentSecret: opts.componentSecret,
      pluginPath: opts.pluginPath,
      modules: opts.modules,
      extraGlobalConfig: opts.extraGlobalConfig,
      extraHostConfig: opts.extraHostConfig,
      logLevel: opts.logLevel,
      httpFileShare,
    }),
  );
  for (const user of opts.users) await registerProsodyUser(paths.config, opts.domain, user);

  let proc: ServerProcess | undefined;
  const start = async () => {
    if (proc && !proc.hasExited()) throw new Error("Prosody is already running");
    proc = await launch(paths, opts.dir, opts.domain, { c2s: c2sPort, component: componentPort, ...(httpFileShare ? { http: httpFileShare.port } : {}) });
  };
  const stop = async () => {
    await proc?.stop();
  };

  await start();
  return {
    c2sPort,
    componentPort,
    httpPort: httpFileShare?.port,
    logPath: paths.log,
    configPath: paths.config,
    dir: opts.dir,
    addUser: (user) => registerProsodyUser(paths.config, opts.domain, user),
    stop,
    start,
  };
}
