// The whole deployment for integration tests: Dovecot and an XMPP server (Prosody by default, or
// ejabberd; each with our module) in a temp dir on free loopback ports, plus a way to start the
// real component against them as the mail user. One place, so every integration test sets
// things up the way an admin would.
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { startComponent, type ComponentProcess } from "./component.js";
import { startDovecot, type DovecotServer } from "./dovecot.js";
import type { YamlValue } from "./ejabberd-config.js";
import { startEjabberd, type EjabberdServer } from "./ejabberd.js";
import { mailUser } from "./mail-user.js";
import { repoRoot } from "./paths.js";
import type { ProsodyLogLevel } from "./prosody-config.js";
import { startProsody, type ProsodyServer } from "./prosody.js";

export const DOMAIN = "example.test";
export const COMPONENT = "archive.example.test";

/** The XMPP servers we ship a capture module for. */
export type ServerKind = "prosody" | "ejabberd";
export const SERVER_KINDS: readonly ServerKind[] = ["prosody", "ejabberd"];

/** What a test needs of either XMPP server. */
export interface XmppServer {
  readonly c2sPort: number;
  readonly componentPort: number;
  readonly logPath: string;
  /** A clean stop (the module's outbox is on disk). Idempotent. */
  stop(): Promise<void>;
  /** Starts it again after stop(): same ports, config and data. */
  start(): Promise<void>;
}

/** The module's options (times in seconds), whichever server runs it (docs/protocol.md). */
export interface ModuleOptions {
  readonly retryMin?: number;
  readonly retryMax?: number;
  readonly confirmTimeout?: number;
  readonly window?: number;
  /** Copy chats received live and sent (docs/chat-history.md); run the component with --chat-history. */
  readonly chatHistory?: boolean;
  /** Copy room messages to local occupants; run the component with --groupchat. */
  readonly groupchat?: boolean;
}

/** Each option's name in both servers' configs (Prosody prefixes it with xmpp_maildir_). */
const MODULE_OPTION_NAMES: Record<keyof ModuleOptions, string> = {
  retryMin: "retry_min",
  retryMax: "retry_max",
  confirmTimeout: "confirm_timeout",
  window: "window",
  chatHistory: "chat_history",
  groupchat: "groupchat",
};

interface BaseStack {
  readonly kind: ServerKind;
  /** The XMPP server, whichever it is. */
  readonly server: XmppServer;
  /** With `upload`: the XEP-0363 service's JID and the origin its URLs use (http://127.0.0.1:<port>). */
  readonly upload: { readonly service: string; readonly origin: string } | undefined;
  readonly dovecot: DovecotServer;
  /** The Maildir template, as Dovecot's mail_location and the component's --maildir. */
  readonly template: string;
  readonly mailRoot: string;
  readonly password: string;
  readonly secret: string;
  /** Starts `xmpp-maildir run` as the mail user. */
  component(options?: { secret?: string; args?: string[]; cli?: string; env?: Record<string, string> }): ComponentProcess;
  /** The IMAP login for a local part. */
  imap(local: string): { port: number; user: string; password: string };
  /**
   * Errors in the server's log: Lua tracebacks from any event handler (ours included) in Prosody,
   * [error]/[critical] lines (a crashed hook, our module's refusals) in ejabberd.
   */
  serverErrors(): Promise<string[]>;
  stop(): Promise<void>;
}

export interface Stack extends BaseStack {
  readonly kind: "prosody";
  readonly prosody: ProsodyServer;
}

export interface EjabberdStack extends BaseStack {
  readonly kind: "ejabberd";
  readonly ejabberd: EjabberdServer;
}

export type AnyStack = Stack | EjabberdStack;

export interface StackOptions {
  readonly dir: string;
  /** Local parts of the users to create in both Prosody and Dovecot. */
  readonly users: string[];
  /** Extra lines inside the VirtualHost (e.g. module options). Prosody only. */
  readonly prosodyHostConfig?: string[];
  /** Prosody's log level; default "debug". Prosody only. */
  readonly prosodyLogLevel?: ProsodyLogLevel;
  /** Default "prosody". */
  readonly server?: ServerKind;
  /** Extra top-level lines for ejabberd.yml (e.g. shaper_rules). ejabberd only. */
  readonly ejabberdConfig?: string;
  /** mod_xmpp_maildir's sources (.erl, .spec) for ejabberd; default server/ejabberd. ejabberd only. */
  readonly ejabberdModuleSource?: string;
  /** More modules and options for ejabberd.yml (e.g. mod_muc's default_room_options). ejabberd only. */
  readonly ejabberdModules?: Readonly<Record<string, Record<string, YamlValue>>>;
  /**
   * More XEP-0114 components, domain → secret, that a test connects itself (to play a room another
   * server hosts). Both servers.
   */
  readonly extraComponents?: Readonly<Record<string, string>>;
  readonly module?: ModuleOptions;
  /** Where Prosody finds mod_xmpp_maildir.lua; default server/prosody (the rolling-upgrade test swaps the file in its own). Prosody only. */
  readonly pluginPath?: string;
  /** More Prosody modules to load beside mod_xmpp_maildir, from their own directory (the benches' probes). Prosody only. */
  readonly prosodyExtraModules?: { readonly dir: string; readonly modules: readonly string[] };
  /** Lua lines for Prosody's global section (the benches' BENCH_PROSODY_GC). Prosody only. */
  readonly prosodyGlobalConfig?: readonly string[];
  /** Run the server's own XEP-0363 upload service (Prosody mod_http_file_share, ejabberd mod_http_upload) on a free loopback port. */
  readonly upload?: {
    readonly maxSize?: number;
    /**
     * Let the component upload too, with the access rules docs/attachments.md gives (Prosody
     * http_file_share_access; ejabberd an access rule for local users and the component's server).
     */
    readonly componentMayUpload?: boolean;
    /**
     * Uploads for the users alone, to show the component refused: ejabberd an access rule for
     * local users (the packaged default, `local`); Prosody http_file_share_access naming the users'
     * domain only (0.12 would otherwise let any local host upload, the component included).
     */
    readonly usersOnly?: boolean;
  };
  /**
   * Dovecot extras: an LMTP listener, more dovecot.conf lines (e.g. push_notification), and users
   * from the passwd file only, with extra userdb fields per local part (e.g. a quota rule).
   */
  readonly dovecot?: {
    readonly lmtp?: boolean;
    readonly extraConfig?: readonly string[];
    readonly userdbFields?: Readonly<Record<string, readonly string[]>>;
    /** A SASL auth socket for Postfix (harness/mta.ts saslPath), for SMTP logins. */
    readonly smtpAuth?: boolean;
    /** Extra passdb fields per local part, e.g. where a Dovecot LMTP proxy sends that user. */
    readonly passdbFields?: Readonly<Record<string, readonly string[]>>;
  };
}

/** docs/attachments.md, ejabberd: local users and the component may ask mod_http_upload for slots. */
function ejabberdUploadAccess(component: string | undefined): string[] {
  return [
    "acl:",
    "  xmpp_maildir_local:",
    '    user_regexp: ""',
    ...(component === undefined ? [] : ["  xmpp_maildir_component:", `    server: ${JSON.stringify(component)}`]),
    "access_rules:",
    "  xmpp_maildir_upload:",
    "    - allow: xmpp_maildir_local",
    ...(component === undefined ? [] : ["    - allow: xmpp_maildir_component"]),
  ];
}

function prosodyModuleLines(module: ModuleOptions = {}): string[] {
  return Object.entries(module).map(([key, value]) => `xmpp_maildir_${MODULE_OPTION_NAMES[key as keyof ModuleOptions]} = ${String(value)}`);
}

function ejabberdModuleOptions(module: ModuleOptions = {}): Record<string, number | string | boolean> {
  return { component: COMPONENT, ...Object.fromEntries(Object.entries(module).map(([key, value]) => [MODULE_OPTION_NAMES[key as keyof ModuleOptions], value as number | boolean])) };
}

export function startStack(options: StackOptions & { server?: "prosody" }): Promise<Stack>;
export function startStack(options: StackOptions & { server: "ejabberd" }): Promise<EjabberdStack>;
export function startStack(options: StackOptions): Promise<AnyStack>;
export async function startStack(options: StackOptions): Promise<AnyStack> {
  const password = "pw-" + randomBytes(4).toString("hex");
  const secret = randomBytes(12).toString("hex");
  const user = mailUser();
  const mailRoot = path.join(options.dir, "mail");
  const template = path.join(mailRoot, "%d", "%n", "Maildir");
  const dovecot = await startDovecot({
    dir: path.join(options.dir, "dovecot"),
    maildirTemplate: template,
    users: options.users.map((local) => ({ user: `${local}@${DOMAIN}`, password, userdbFields: options.dovecot?.userdbFields?.[local] ?? [], passdbFields: options.dovecot?.passdbFields?.[local] ?? [] })),
    uid: user.uid,
    gid: user.gid,
    ...(options.dovecot?.lmtp ? { lmtp: true } : {}),
    ...(options.dovecot?.extraConfig ? { extraConfig: options.dovecot.extraConfig } : {}),
    ...(options.dovecot?.userdbFields ? { userdb: "passwd-file" as const } : {}),
    ...(options.dovecot?.smtpAuth ? { smtpAuth: true } : {}),
  });
  const common = {
    dovecot,
    template,
    mailRoot,
    password,
    secret,
    imap: (local: string) => ({ port: dovecot.imapPort, user: `${local}@${DOMAIN}`, password }),
  };
  const componentOn = (server: XmppServer) => (opts: { secret?: string; args?: string[]; cli?: string; env?: Record<string, string> } = {}) =>
    startComponent({ xmppPort: server.componentPort, domain: COMPONENT, maildir: template, secret: opts.secret ?? secret, uid: user.uid, gid: user.gid, ...(opts.args ? { args: opts.args } : {}), ...(opts.cli ? { cli: opts.cli } : {}), ...(opts.env ? { env: opts.env } : {}) });

  if (options.server === "ejabberd") {
    let ejabberd: EjabberdServer;
    try {
      ejabberd = await startEjabberd({
        dir: path.join(options.dir, "ejabberd"),
        domain: DOMAIN,
        componentDomain: COMPONENT,
        componentSecret: secret,
        users: options.users.map((username) => ({ username, password })),
        modules: { ...options.ejabberdModules, mod_xmpp_maildir: ejabberdModuleOptions(options.module) },
        ...(options.ejabberdConfig === undefined && !options.upload?.componentMayUpload
          ? {}
          : { extraConfig: [options.ejabberdConfig ?? "", ...(options.upload?.componentMayUpload ? ejabberdUploadAccess(COMPONENT) : [])].join("\n") }),
        ...(options.upload?.usersOnly ? { extraConfig: [options.ejabberdConfig ?? "", ...ejabberdUploadAccess(undefined)].join("\n") } : {}),
        ...(options.upload
          ? { httpUpload: { ...(options.upload.maxSize === undefined ? {} : { maxSize: options.upload.maxSize }), ...(options.upload.componentMayUpload || options.upload.usersOnly ? { access: "xmpp_maildir_upload" } : {}) } }
          : {}),
        ...(options.extraComponents ? { extraComponents: options.extraComponents } : {}),
        ...(options.ejabberdModuleSource ? { moduleSource: options.ejabberdModuleSource } : {}),
      });
    } catch (err) {
      await dovecot.stop();
      throw err;
    }
    return {
      ...common,
      kind: "ejabberd",
      ejabberd,
      server: ejabberd,
      upload: ejabberd.httpPort === undefined ? undefined : { service: `upload.${DOMAIN}`, origin: `http://127.0.0.1:${ejabberd.httpPort}` },
      component: componentOn(ejabberd),
      async serverErrors() {
        const log = await readFile(ejabberd.logPath, "utf8");
        return log.split("\n").filter((line) => /\[(?:error|critical)\]/.test(line));
      },
      async stop() {
        await ejabberd.stop();
        await dovecot.stop();
      },
    };
  }

  let prosody: ProsodyServer;
  try {
    prosody = await startProsody({
      dir: path.join(options.dir, "prosody"),
      domain: DOMAIN,
      componentDomain: COMPONENT,
      componentSecret: secret,
      users: options.users.map((username) => ({ username, password })),
      pluginPath: [options.pluginPath ?? path.join(repoRoot(), "server", "prosody"), ...(options.prosodyExtraModules ? [options.prosodyExtraModules.dir] : [])],
      modules: ["xmpp_maildir", ...(options.prosodyExtraModules?.modules ?? [])],
      ...(options.prosodyGlobalConfig ? { extraGlobalConfig: options.prosodyGlobalConfig } : {}),
      extraHostConfig: [
        `xmpp_maildir_component = "${COMPONENT}"`,
        ...prosodyModuleLines(options.module),
        ...(options.prosodyHostConfig ?? []),
        // Each its own section after the VirtualHost's lines, as the MUC in prosodyHostConfig is.
        ...Object.entries(options.extraComponents ?? {}).flatMap(([domain, secret]) => [`Component ${JSON.stringify(domain)}`, `component_secret = ${JSON.stringify(secret)}`]),
      ].join("\n"),
      ...(options.prosodyLogLevel ? { logLevel: options.prosodyLogLevel } : {}),
      ...(options.upload
        ? { httpFileShare: { ...(options.upload.maxSize === undefined ? {} : { sizeLimit: options.upload.maxSize }), ...(options.upload.componentMayUpload ? { access: [DOMAIN, COMPONENT] } : options.upload.usersOnly ? { access: [DOMAIN] } : {}) } }
        : {}),
    });
  } catch (err) {
    await dovecot.stop();
    throw err;
  }
  return {
    ...common,
    kind: "prosody",
    prosody,
    server: prosody,
    upload: prosody.httpPort === undefined ? undefined : { service: `upload.${DOMAIN}`, origin: `http://127.0.0.1:${prosody.httpPort}` },
    component: componentOn(prosody),
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
