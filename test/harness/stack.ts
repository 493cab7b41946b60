// The whole deployment for integration tests: Dovecot and Prosody (with our module) in a temp
// dir on free loopback ports, plus a way to start the real component against them as the mail
// user. One place, so every integration test sets things up the way an admin would.
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { startComponent, type ComponentProcess } from "./component.js";
import { startDovecot, type DovecotServer } from "./dovecot.js";
import { mailUser } from "./mail-user.js";
import { repoRoot } from "./paths.js";
import { startProsody, type ProsodyServer } from "./prosody.js";

export const DOMAIN = "example.test";
export const COMPONENT = "archive.example.test";

export interface Stack {
  readonly prosody: ProsodyServer;
  readonly dovecot: DovecotServer;
  /** The Maildir template, as Dovecot's mail_location and the component's --maildir. */
  readonly template: string;
  readonly mailRoot: string;
  readonly password: string;
  readonly secret: string;
  /** Starts `xmpp-maildir run` as the mail user. */
  component(options?: { secret?: string; args?: string[] }): ComponentProcess;
  /** The IMAP login for a local part. */
  imap(local: string): { port: number; user: string; password: string };
  /** Lua errors in any event handler (ours included) are logged by Prosody as tracebacks. */
  serverErrors(): Promise<string[]>;
  stop(): Promise<void>;
}

export interface StackOptions {
  readonly dir: string;
  /** Local parts of the users to create in both Prosody and Dovecot. */
  readonly users: string[];
  /** Extra lines inside the VirtualHost (e.g. module options). */
  readonly prosodyHostConfig?: string[];
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const password = "pw-" + randomBytes(4).toString("hex");
  const secret = randomBytes(12).toString("hex");
  const user = mailUser();
  const mailRoot = path.join(options.dir, "mail");
  const template = path.join(mailRoot, "%d", "%n", "Maildir");
  const dovecot = await startDovecot({
    dir: path.join(options.dir, "dovecot"),
    maildirTemplate: template,
    users: options.users.map((local) => ({ user: `${local}@${DOMAIN}`, password })),
    uid: user.uid,
    gid: user.gid,
  });
  let prosody: ProsodyServer;
  try {
    prosody = await startProsody({
      dir: path.join(options.dir, "prosody"),
      domain: DOMAIN,
      componentDomain: COMPONENT,
      componentSecret: secret,
      users: options.users.map((username) => ({ username, password })),
      pluginPath: path.join(repoRoot(), "server", "prosody"),
      modules: ["xmpp_maildir"],
      extraHostConfig: [`xmpp_maildir_component = "${COMPONENT}"`, ...(options.prosodyHostConfig ?? [])].join("\n"),
    });
  } catch (err) {
    await dovecot.stop();
    throw err;
  }
  return {
    prosody,
    dovecot,
    template,
    mailRoot,
    password,
    secret,
    component: (opts = {}) =>
      startComponent({ xmppPort: prosody.componentPort, domain: COMPONENT, maildir: template, secret: opts.secret ?? secret, uid: user.uid, gid: user.gid, ...(opts.args ? { args: opts.args } : {}) }),
    imap: (local) => ({ port: dovecot.imapPort, user: `${local}@${DOMAIN}`, password }),
    async serverErrors() {
      const log = await readFile(prosody.logPath, "utf8");
      return log.split("\n").filter((line) => /Traceback|attempt to (index|call|compare)|xmpp_maildir\terror/.test(line));
    },
    async stop() {
      await prosody.stop();
      await dovecot.stop();
    },
  };
}
