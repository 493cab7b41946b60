// The real Delta Chat core (chatmail core's deltachat-rpc-server, from the npm package
// @deltachat/stdio-rpc-server-linux-x64, driven with @deltachat/jsonrpc-client, both pinned to the
// same version) as a headless test client: one server process per test in a temp dir, profiles
// logged in to the test's Dovecot (IMAP) and Postfix (SMTP, which Delta Chat always logs in to),
// plaintext on loopback. Nothing is downloaded at run time: the binary is inside the package.
//
// Why not @deltachat/stdio-rpc-server, the wrapper that picks the binary for the platform: its
// optional dependencies name packages the registry does not serve (android-arm, android-arm64,
// linux-arm at 2.57.0), so npm writes a lock file that `npm ci` then refuses. The wrapper's
// startDeltaChat is the spawn below: the binary, DC_ACCOUNTS_PATH, JSON-RPC over stdio.
//
// What a profile needs, checked with core 2.57 (/work/shared/DESIGN.md and docs/chat-history.md):
//   - force_encryption "0" right after addAccount: without it, unencrypted mail is dropped silently;
//   - addOrUpdateTransport with imapSecurity/smtpSecurity "plain" and acceptInvalidCertificates;
//   - it watches exactly one folder (imapFolder), and fetches only mail arriving after startIo.
// Never point a profile at the INBOX of a user whose pushes a test checks: it moves and flags mail.
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { StdioDeltaChat, type T } from "@deltachat/jsonrpc-client";
import { pollUntil } from "./poll.js";

/** A fresh profile configures (IMAP and SMTP login, folder scan) within ~2 s here. */
const CONFIGURE_TIMEOUT_MS = 60_000;
/** Mail appended to the watched folder shows in a chat within a few seconds (IDLE). */
const MESSAGE_TIMEOUT_MS = 60_000;
/** Each poll is a handful of local JSON-RPC calls. */
const POLL_INTERVAL_MS = 250;

export interface ProfileOptions {
  /** user@domain: the IMAP and SMTP login. */
  readonly addr: string;
  readonly password: string;
  readonly imapPort: number;
  readonly smtpPort: number;
  /** The one folder this profile watches, e.g. "Chats" (a room folder is "Chats.lounge"). */
  readonly imapFolder: string;
}

export interface DeltaChatProfile {
  readonly accountId: number;
  readonly addr: string;
  /** Every message in every chat (not the trash), newest last. */
  messages(): Promise<T.Message[]>;
  /** Polls messages() until `pred` holds, and returns them. */
  waitForMessages(pred: (messages: T.Message[]) => boolean, what: string): Promise<T.Message[]>;
}

export interface DeltaChatClient {
  readonly rpc: StdioDeltaChat["rpc"];
  /** Adds, configures and starts a profile; mail arriving after this resolves is fetched. */
  addProfile(options: ProfileOptions): Promise<DeltaChatProfile>;
  stop(): Promise<void>;
}

export function startDeltaChatClient(dir: string): DeltaChatClient {
  // The package's main is the executable itself.
  const binary = createRequire(import.meta.url).resolve("@deltachat/stdio-rpc-server-linux-x64");
  // stderr is the core's log (RUST_LOG), muted: the tests assert on what the JSON-RPC answers.
  const server = spawn(binary, [], { env: { DC_ACCOUNTS_PATH: dir }, stdio: ["pipe", "pipe", "ignore"] });
  let stopping = false;
  let exited: Error | undefined;
  server.on("error", (err) => {
    exited = new Error(`could not start the Delta Chat core ${binary}: ${err.message}`);
  });
  server.on("exit", (code, signal) => {
    if (!stopping) exited = new Error(`the Delta Chat core exited early (code ${code}, signal ${signal})`);
  });
  const dc = new StdioDeltaChat(server.stdin, server.stdout, true);
  const { rpc } = dc;
  const accounts: number[] = [];

  async function messages(accountId: number): Promise<T.Message[]> {
    const out: T.Message[] = [];
    for (const chatId of await rpc.getChatlistEntries(accountId, null, null, null)) {
      const ids = await rpc.getMessageIds(accountId, chatId, false, false);
      for (const id of ids) out.push(await rpc.getMessage(accountId, id));
    }
    return out.sort((a, b) => a.sortTimestamp - b.sortTimestamp || a.id - b.id);
  }

  return {
    rpc,
    async addProfile(options) {
      const accountId = await rpc.addAccount();
      accounts.push(accountId);
      // Before anything else: a profile that may require encryption drops plain mail unseen.
      await rpc.setConfig(accountId, "force_encryption", "0");
      const configured = rpc.addOrUpdateTransport(accountId, {
        addr: options.addr,
        password: options.password,
        imapServer: "127.0.0.1",
        imapPort: options.imapPort,
        imapSecurity: "plain",
        imapUser: options.addr,
        smtpServer: "127.0.0.1",
        smtpPort: options.smtpPort,
        smtpSecurity: "plain",
        smtpUser: options.addr,
        smtpPassword: options.password,
        certificateChecks: "acceptInvalidCertificates",
        imapFolder: options.imapFolder,
      });
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Delta Chat did not configure ${options.addr} within ${CONFIGURE_TIMEOUT_MS} ms`)), CONFIGURE_TIMEOUT_MS);
      });
      try {
        await Promise.race([configured, timeout]);
      } finally {
        clearTimeout(timer);
      }
      await rpc.startIo(accountId);
      return {
        accountId,
        addr: options.addr,
        messages: () => messages(accountId),
        async waitForMessages(pred, what) {
          let last: T.Message[] = [];
          return pollUntil(
            async () => {
              last = await messages(accountId);
              return pred(last) ? last : undefined;
            },
            {
              timeoutMs: MESSAGE_TIMEOUT_MS,
              intervalMs: POLL_INTERVAL_MS,
              describe: () => `Delta Chat (${options.addr}): ${what}; saw ${JSON.stringify(last.map((m) => ({ text: m.text, from: m.sender.address, override: m.overrideSenderName, state: m.state })))}`,
            },
          );
        },
      };
    },
    async stop() {
      for (const id of accounts) await rpc.stopIo(id).catch(() => undefined);
      stopping = true;
      dc.close();
      if (server.exitCode === null && server.signalCode === null) {
        const gone = new Promise((resolve) => server.once("exit", resolve));
        server.kill();
        await gone;
      }
      if (exited) throw exited;
    },
  };
}
