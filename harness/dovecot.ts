/**
 * A real Dovecot (IMAP, optionally LMTP) for integration tests, serving Maildirs from a temp dir
 * on a free loopback port: the host's or the other generation's (generation.ts), with a config
 * in the syntax its version reads (2.3 or 2.4, dovecot-syntax.ts).
 */
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { randomBytes } from "node:crypto";
import { chmod, chown, mkdir, rename, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { freePort, waitForPort } from "./ports.js";
import { logTail } from "./log-tail.js";
import {
  dovecotConfig,
  dovecotPasswdFile,
  dovecotPaths,
  type DovecotPaths,
  type DovecotUser,
} from "./dovecot-config.js";
import { dovecotSyntax } from "./dovecot-syntax.js";
import { serverCommand } from "./generation.js";
import { describeExit, spawnServer, type ServerProcess } from "./server-process.js";

/** Dovecot listens within ~0.1 s here; generous for a loaded 2-core CI machine. */
const START_TIMEOUT_MS = 20_000;
/** A doveadm command reads the config and makes one request; slow only on a loaded CI box. */
const DOVEADM_TIMEOUT_MS = 15_000;
const execFileAsync = promisify(execFile);
/** The Debian package's unprivileged users (see /usr/share/doc/dovecot-core). */
const DEBIAN_LOGIN_USER = "dovenull";
const DEBIAN_INTERNAL_USER = "dovecot";
const DEBIAN_INTERNAL_GROUP = "dovecot";
/** The SASL socket's name in base_dir. */
const AUTH_SOCKET = "smtp-auth";

/** Without root, Dovecot can only give its sockets to our own primary group. */
function currentGroupName(): string {
  return execFileSync("id", ["-gn"], { encoding: "utf8" }).trim();
}

export type { DovecotUser };

export interface DovecotOptions {
  dir: string;
  /** e.g. `${dir}/mail/%d/%n/Maildir`; Dovecot variables %d %n %u. */
  maildirTemplate: string;
  users: DovecotUser[];
  /** Owner of the Maildirs; Dovecot's mail processes run as this. */
  uid: number;
  gid: number;
  /** Also listen for LMTP on a free loopback port. */
  lmtp?: boolean;
  /** More dovecot.conf lines, appended as given (in the syntax of dovecotSyntax()). */
  extraConfig?: readonly string[];
  /** Default "static" (every user exists); "passwd-file": only `users`, with their userdbFields. */
  userdb?: "static" | "passwd-file";
  /** Also a SASL auth socket for Postfix (`authSocketPath`): for SMTP logins (Delta Chat). */
  smtpAuth?: boolean;
}

export interface DovecotServer {
  imapPort: number;
  /** Set when started with `lmtp: true`. */
  lmtpPort: number | undefined;
  /** Set when started with `smtpAuth: true`: Postfix's smtpd_sasl_path (type dovecot). */
  authSocketPath: string | undefined;
  logPath: string;
  configPath: string;
  /** The fixed directory part of maildirTemplate (before the first %). */
  mailRoot: string;
  /** Runs `doveadm -c <config> args` against this server (in its generation) and returns stdout. */
  doveadm(args: string[]): Promise<string>;
  /** Replaces the passwd file (atomically); Dovecot reads it again on the next lookup. */
  setUsers(users: DovecotUser[]): Promise<void>;
  stop(): Promise<void>;
  /** Starts it again after stop(): same ports, config and Maildirs (a backend coming back). */
  start(): Promise<void>;
}

/**
 * The directory part of a template before its first variable:
 * "/t/mail/%d/%n/Maildir" -> "/t/mail", "/t/mail/u-%n" -> "/t/mail".
 */
export function mailRootOf(template: string): string {
  const cut = template.indexOf("%");
  if (cut === -1) return path.dirname(template);
  const prefix = template.slice(0, cut);
  return prefix.endsWith("/") ? prefix.slice(0, -1) : path.dirname(prefix);
}

async function prepare(opts: DovecotOptions, paths: DovecotPaths, imapPort: number, lmtpPort: number | undefined): Promise<string> {
  const root = mailRootOf(opts.maildirTemplate);
  const fromRoot = path.relative(root, path.resolve(opts.dir));
  if (!fromRoot.startsWith("..")) {
    // chown/chmod 0700 of the server dir itself would lock Dovecot's own
    // unprivileged processes out of base_dir.
    throw new Error(`maildirTemplate must put Maildirs in a subdirectory of ${opts.dir}, not ${root}`);
  }
  // Dovecot (as uid/gid) creates <root>/<domain>/<user>/Maildir on first
  // login, so it must own the root. 0700: mail is private, and only the
  // mail user (and root) need to enter.
  await mkdir(root, { recursive: true });
  await chown(root, opts.uid, opts.gid);
  await chmod(root, 0o700);
  await mkdir(paths.stateDir, { recursive: true });
  // Users' homes (userdb home=<home>/<domain>/<user>) hold per-user state such as the METADATA
  // dict; Dovecot creates them as the mail user, so that user must own their root.
  await mkdir(paths.home, { recursive: true });
  await chown(paths.home, opts.uid, opts.gid);
  // Dovecot 2.3's auth process runs as default_internal_user (dovecot), not
  // root, and must read this; the test passwords are no secret.
  await writeFile(paths.passwd, dovecotPasswdFile(opts.users), { mode: 0o644 });

  const asRoot = process.getuid?.() === 0;
  const me = os.userInfo().username;
  await writeFile(
    paths.config,
    dovecotConfig({
      paths,
      // instance_name shows in process titles and state_dir/instances;
      // unique so parallel test servers are told apart.
      instanceName: `xmpp-maildir-test-${process.pid}-${randomBytes(3).toString("hex")}`,
      imapPort,
      lmtpPort,
      maildirTemplate: opts.maildirTemplate,
      uid: opts.uid,
      gid: opts.gid,
      loginUser: asRoot ? DEBIAN_LOGIN_USER : me,
      internalUser: asRoot ? DEBIAN_INTERNAL_USER : me,
      internalGroup: asRoot ? DEBIAN_INTERNAL_GROUP : currentGroupName(),
      chroot: asRoot,
      extraConfig: opts.extraConfig,
      userdb: opts.userdb,
      authSocket: opts.smtpAuth ? AUTH_SOCKET : undefined,
      syntax: dovecotSyntax(),
    }),
  );
  return root;
}

export async function startDovecot(opts: DovecotOptions): Promise<DovecotServer> {
  const paths = dovecotPaths(opts.dir);
  const imapPort = await freePort();
  const lmtpPort = opts.lmtp ? await freePort() : undefined;
  const mailRoot = await prepare(opts, paths, imapPort, lmtpPort);

  /** Runs Dovecot on the prepared config and waits until it listens; the same ports every time. */
  async function launch(): Promise<ServerProcess> {
    const proc = spawnServer({ command: "dovecot", args: ["-F", "-c", paths.config], cwd: opts.dir });
    const aborter = new AbortController();
    void proc.exited.then((info) => aborter.abort(new Error(`dovecot ${describeExit(info)}`)));
    try {
      await waitForPort(imapPort, { timeoutMs: START_TIMEOUT_MS, signal: aborter.signal });
      if (lmtpPort) await waitForPort(lmtpPort, { timeoutMs: START_TIMEOUT_MS, signal: aborter.signal });
    } catch (err) {
      await proc.stop();
      throw new Error(
        `Dovecot did not start: ${(err as Error).message}\n` +
          `--- dovecot output ---\n${proc.output()}\n--- last lines of ${paths.log} ---\n${await logTail(paths.log)}`,
        { cause: err },
      );
    }
    return proc;
  }

  let proc: ServerProcess = await launch();
  return {
    imapPort,
    lmtpPort,
    authSocketPath: opts.smtpAuth ? path.join(paths.baseDir, AUTH_SOCKET) : undefined,
    logPath: paths.log,
    configPath: paths.config,
    mailRoot,
    async doveadm(args) {
      const { command, args: argv } = serverCommand("doveadm", ["-c", paths.config, ...args]);
      try {
        return (await execFileAsync(command, argv, { timeout: DOVEADM_TIMEOUT_MS })).stdout;
      } catch (err) {
        const e = err as Error & { stderr?: string };
        throw new Error(`doveadm ${args.join(" ")} failed: ${e.message}\n${e.stderr ?? ""}`, { cause: err });
      }
    },
    async setUsers(users) {
      const next = `${paths.passwd}.new`;
      await writeFile(next, dovecotPasswdFile(users), { mode: 0o644 });
      await rename(next, paths.passwd);
    },
    stop: () => proc.stop(),
    async start() {
      if (!proc.hasExited()) throw new Error(`Dovecot in ${opts.dir} is still running: stop() it first`);
      proc = await launch();
    },
  };
}
