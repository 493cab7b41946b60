// The deployment for the mail ↔ XMPP tests: Dovecot with LMTP (and, for the "push" trigger, the
// push_notification Lua driver running examples/dovecot-push.lua, in the syntax of the Dovecot
// under test), Prosody with our module,
// Postfix relaying to Dovecot's LMTP, and the real component started with --watch and
// --smtp-url. All on free loopback ports in one temp dir.
import path from "node:path";
import nodemailer from "nodemailer";
import type { ComponentProcess } from "./component.js";
import type { DovecotServer } from "./dovecot.js";
import { startPostfix, type PostfixServer } from "./mta.js";
import { luaPushConfig, oxPushConfig } from "./dovecot-features.js";
import { freePort } from "./ports.js";
import type { ProsodyServer } from "./prosody.js";
import { COMPONENT, DOMAIN, startStack, type ServerKind, type XmppServer } from "./stack.js";

export { COMPONENT, DOMAIN };
/** A remote mail domain; Postfix relays it to the same Dovecot (allow_all_users). */
export const REMOTE_DOMAIN = "example.net";

export interface BridgeStack {
  readonly dovecot: DovecotServer;
  /** Prosody's handle; throws on a stack started with `server: "ejabberd"` (use `server`). */
  readonly prosody: ProsodyServer;
  /** The XMPP server, whichever it is. */
  readonly server: XmppServer;
  readonly postfix: PostfixServer;
  readonly mailRoot: string;
  readonly password: string;
  /** With `upload`: the XEP-0363 service's JID and the origin of its URLs. */
  readonly upload: { readonly service: string; readonly origin: string } | undefined;
  /** The component with the stack's bridge flags, plus `extraArgs`. */
  component(extraArgs?: readonly string[]): ComponentProcess;
  /** Delivers raw RFC 5322 text through Dovecot's LMTP, as an MTA would. */
  deliver(to: string, raw: string): Promise<void>;
  imap(local: string, mailbox?: string): { port: number; user: string; password: string; mailbox: string };
  stop(): Promise<void>;
}

export interface BridgeStackOptions {
  readonly dir: string;
  readonly users: string[];
  readonly trigger: "fs" | "push";
  /**
   * Which Dovecot push_notification driver feeds --watch push: "lua" (default,
   * examples/dovecot-push.lua) or "ox" (Dovecot's own, no Lua; users need a METADATA entry).
   */
  readonly pushDriver?: "lua" | "ox";
  /** SMTP AUTH through Dovecot's auth socket (for a Delta Chat profile: harness/deltachat.ts). */
  readonly smtpAuth?: boolean;
  /** Prosody's own XEP-0363 service (mod_http_file_share), for a client to share a file. */
  readonly upload?: boolean;
  /** Default Prosody. */
  readonly server?: ServerKind;
}

export async function startBridgeStack(options: BridgeStackOptions): Promise<BridgeStack> {
  const pushPort = await freePort();
  // examples/dovecot-push.conf (2.3) or examples/dovecot-2.4/dovecot-push.conf, as an admin adds it.
  const pushUrl = `http://127.0.0.1:${pushPort}/notify`;
  const pushConfig = options.pushDriver === "ox" ? oxPushConfig(pushUrl) : luaPushConfig(pushUrl);
  const stack = await startStack({
    dir: options.dir,
    users: options.users,
    dovecot: { lmtp: true, ...(options.trigger === "push" ? { extraConfig: pushConfig } : {}), ...(options.smtpAuth ? { smtpAuth: true } : {}) },
    ...(options.upload ? { upload: {} } : {}),
    server: options.server ?? "prosody",
  });
  const { dovecot, password } = stack;
  const cleanups: Array<() => Promise<void>> = [() => stack.stop()];
  const stopAll = async () => {
    for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
  };
  try {
    const postfix = await startPostfix({ dir: path.join(options.dir, "postfix"), lmtpPort: dovecot.lmtpPort!, relayDomains: [DOMAIN, REMOTE_DOMAIN], saslPath: dovecot.authSocketPath });
    cleanups.push(() => postfix.stop());
    const lmtp = nodemailer.createTransport({ host: "127.0.0.1", port: dovecot.lmtpPort!, lmtp: true, secure: false, ignoreTLS: true });
    cleanups.push(async () => lmtp.close());
    return {
      dovecot,
      get prosody(): ProsodyServer {
        if (stack.kind !== "prosody") throw new Error("this bridge stack runs ejabberd: use .server");
        return stack.prosody;
      },
      server: stack.server,
      postfix,
      mailRoot: stack.mailRoot,
      password,
      upload: stack.upload,
      component: (extraArgs = []) =>
        stack.component({
          args: [
            "--watch", options.trigger, "--push-port", String(pushPort),
            "--imap-url", `imap://127.0.0.1:${dovecot.imapPort}`, "--smtp-url", `smtp://127.0.0.1:${postfix.smtpPort}`,
            ...extraArgs,
          ],
        }),
      async deliver(to, raw) {
        await lmtp.sendMail({ envelope: { from: "sender@example.net", to: [to] }, raw });
      },
      imap: (local, mailbox = "INBOX") => ({ ...stack.imap(local), mailbox }),
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
