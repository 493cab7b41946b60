// A real Postfix for integration tests: its own config directory, queue and log in a temp dir,
// SMTP on a free loopback port, relaying the test domains to Dovecot's LMTP. Never the system
// instance (postfix -c <dir>), never a fixed port. Needs root (Postfix's queue is owned by the
// postfix user, as on a real system).
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { freePort, waitForPort } from "./ports.js";
import { serverCommand } from "./generation.js";

const execFileAsync = promisify(execFile);
/** A postfix command of the generation under test (generation.ts). */
const run = (command: string, args: string[]) => {
  const wrapped = serverCommand(command, args);
  return execFileAsync(wrapped.command, wrapped.args);
};
/** Postfix's master is listening within ~1 s here; generous for a loaded 2-core CI machine. */
const START_TIMEOUT_MS = 20_000;

export interface PostfixOptions {
  readonly dir: string;
  /** Dovecot's LMTP port: mail for relayDomains goes there. */
  readonly lmtpPort: number;
  /** Domains it accepts mail for; anything else is refused at RCPT (554 Relay access denied). */
  readonly relayDomains: readonly string[];
  /**
   * Dovecot's auth socket (DovecotServer.authSocketPath): SMTP AUTH through Dovecot, as Delta
   * Chat needs (it always logs in). Relaying stays limited to relayDomains either way.
   */
  readonly saslPath?: string | undefined;
}

export interface PostfixServer {
  readonly smtpPort: number;
  readonly logPath: string;
  /** Everything Postfix logged so far (maillog_file). */
  output(): string;
  stop(): Promise<void>;
}

/** The services an SMTP → LMTP relay needs, none chrooted (the temp dir is not a chroot jail). */
function masterCf(smtpPort: number): string {
  return [
    `127.0.0.1:${smtpPort} inet n - n - - smtpd`,
    ...[
      "cleanup unix n - n - 0 cleanup", "qmgr unix n - n 300 1 qmgr", "rewrite unix - - n - - trivial-rewrite",
      "bounce unix - - n - 0 bounce", "defer unix - - n - 0 bounce", "trace unix - - n - 0 bounce",
      "verify unix - - n - 1 verify", "flush unix n - n 1000? 0 flush", "proxymap unix - - n - - proxymap",
      "smtp unix - - n - - smtp", "relay unix - - n - - smtp", "showq unix n - n - - showq",
      "error unix - - n - - error", "retry unix - - n - - error", "discard unix - - n - - discard",
      "lmtp unix - - n - - lmtp", "anvil unix - - n - 1 anvil", "scache unix - - n - 1 scache",
      "postlog unix-dgram n - n - 1 postlogd",
    ],
    "",
  ].join("\n");
}

function mainCf(dir: string, opts: PostfixOptions): string {
  return [
    "compatibility_level = 3.6",
    `queue_directory = ${path.join(dir, "queue")}`,
    `data_directory = ${path.join(dir, "data")}`,
    "mail_owner = postfix",
    "setgid_group = postdrop",
    "inet_interfaces = 127.0.0.1",
    "inet_protocols = ipv4",
    "myhostname = mta.example.test",
    "mydestination =",
    "mynetworks = 127.0.0.0/8",
    `relay_domains = ${opts.relayDomains.join(" ")}`,
    `relay_transport = lmtp:inet:127.0.0.1:${opts.lmtpPort}`,
    // No permit_mynetworks: the tests rely on a refusal for any other domain.
    "smtpd_relay_restrictions = reject_unauth_destination",
    "alias_maps =",
    "alias_database =",
    "smtputf8_enable = no",
    ...(opts.saslPath ? ["smtpd_sasl_auth_enable = yes", "smtpd_sasl_type = dovecot", `smtpd_sasl_path = ${opts.saslPath}`] : []),
    // Postfix only logs to files below these prefixes (default /var, /dev/stdout).
    `maillog_file_prefixes = ${dir}`,
    `maillog_file = ${path.join(dir, "maillog")}`,
    "",
  ].join("\n");
}

export async function startPostfix(opts: PostfixOptions): Promise<PostfixServer> {
  const dir = path.resolve(opts.dir);
  const smtpPort = await freePort();
  await mkdir(path.join(dir, "queue"), { recursive: true });
  await mkdir(path.join(dir, "data"), { recursive: true });
  await writeFile(path.join(dir, "main.cf"), mainCf(dir, opts));
  await writeFile(path.join(dir, "master.cf"), masterCf(smtpPort));
  // Creates the queue's subdirectories with the owners and modes Postfix insists on.
  await run("postfix", ["-c", dir, "set-permissions"]).catch((err: Error & { stderr?: string }) => {
    throw new Error(`postfix set-permissions failed in ${dir}: ${err.stderr ?? err.message}`, { cause: err });
  });
  let output = "";
  const fg = serverCommand("postfix", ["-c", dir, "start-fg"]);
  const child: ChildProcess = spawn(fg.command, fg.args, { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (output += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (output += d));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const aborter = new AbortController();
  void exited.then(() => aborter.abort(new Error(`postfix exited: ${output}`)));
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await run("postfix", ["-c", dir, "stop"]).catch(() => child.kill("SIGTERM"));
    await exited;
  };
  try {
    await waitForPort(smtpPort, { timeoutMs: START_TIMEOUT_MS, signal: aborter.signal });
  } catch (err) {
    await stop();
    throw new Error(`Postfix did not start: ${(err as Error).message}\n${output}`, { cause: err });
  }
  return { smtpPort, logPath: path.join(dir, "maillog"), output: () => output, stop };
}
