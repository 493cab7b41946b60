// Every setting, declared once. This table feeds commander (flags and --help), the TOML loader
// (keys are the flag names), and the environment reader (XMPP_MAILDIR_<NAME>).
import { ENCRYPTED_POLICIES, type ChatSettings, type EncryptedPolicy } from "../capture/index.js";
import type { BridgeSettings } from "../bridge/index.js";
import type { LmtpTarget } from "../delivery/index.js";
import type { OriginList } from "../fetch/index.js";

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type OptionKind = "host" | "port" | "domain" | "template" | "level" | "file" | "dir" | "bytes" | "boolean" | "folder" | "url" | "trigger" | "deliver" | "encrypted" | "origins" | "count";

/** --watch: how the component learns of new mail to push to online users (README, "Mail to XMPP"). */
export const WATCH_TRIGGERS = ["off", "fs", "push"] as const;

/** Default --push-port: an unassigned port, on loopback only; set it to what Dovecot posts to. */
export const DEFAULT_PUSH_PORT = 8426;

export interface OptionSpec {
  /** Property of Config. */
  readonly key: string;
  /** Flag name without dashes, and the TOML key. */
  readonly name: string;
  readonly kind: OptionKind;
  readonly description: string;
  readonly valueName: string;
  readonly required?: boolean;
  readonly default?: string | number | boolean;
}

export const RUN_OPTIONS = [
  { key: "xmppHost", name: "xmpp-host", kind: "host", valueName: "host", default: "127.0.0.1",
    description: "XMPP server to connect to (its component port)" },
  { key: "xmppPort", name: "xmpp-port", kind: "port", valueName: "port", default: 5347,
    description: "the server's component port (XEP-0114)" },
  { key: "domain", name: "domain", kind: "domain", valueName: "domain", required: true,
    description: "the component's JID, e.g. archive.example.org" },
  // Required unless --deliver lmtp (load.ts says so): over LMTP, Dovecot writes the Maildirs.
  { key: "maildir", name: "maildir", kind: "template", valueName: "template",
    description: "Maildir path template, Dovecot variables %u %n %d or 2.4's %{user} %{user | username} %{user | domain}, e.g. /var/vmail/%d/%n/Maildir" },
  { key: "deliver", name: "deliver", kind: "deliver", valueName: "target", default: "maildir",
    description: "where archived mail goes: maildir (files under --maildir, which is then required), or lmtp://host:port or lmtp:/path/to/socket (Dovecot's LMTP; README, \"Delivery over LMTP\")" },
  { key: "userDomain", name: "user-domain", kind: "domain", valueName: "domain",
    description: "the users' domain (default: --domain minus its first label)" },
  { key: "secretFile", name: "secret-file", kind: "file", valueName: "path",
    description: "file holding the component secret (or set XMPP_MAILDIR_SECRET)" },
  { key: "stateDir", name: "state-dir", kind: "dir", valueName: "path",
    description: "where the dedupe journal lives (default: .xmpp-maildir in the Maildir root)" },
  { key: "maxStanzaBytes", name: "max-stanza-bytes", kind: "bytes", valueName: "bytes", default: 1_048_576,
    description: "larger messages are refused with policy-violation" },
  { key: "chatHistory", name: "chat-history", kind: "boolean", valueName: "", default: false,
    description: "archive one-to-one chats sent and received by local users into the chats folder (docs/chat-history.md)" },
  { key: "groupchat", name: "groupchat", kind: "boolean", valueName: "", default: false,
    description: "archive group chat (MUC) messages to and from local users into a folder per room under the chats folder" },
  { key: "chatsFolder", name: "chats-folder", kind: "folder", valueName: "name", default: "Chats",
    description: "the IMAP folder for chat history (Maildir++ .<name>)" },
  { key: "keywords", name: "keywords", kind: "boolean", valueName: "",
    description: "set the IMAP keywords $XMPP, $XMPPChat, $XMPPNormal, $XMPPOffline (default: on with --chat-history)" },
  { key: "maxAttachmentBytes", name: "max-attachment-bytes", kind: "bytes", valueName: "bytes", default: 262_144,
    description: "XEP-0231 and data: content up to this size becomes a MIME attachment (with --chat-history)" },
  { key: "encrypted", name: "encrypted", kind: "encrypted", valueName: "policy", default: "archive",
    description: `end-to-end encrypted messages (OMEMO, OpenPGP): ${ENCRYPTED_POLICIES.join(", ")} (archive: a mail naming the scheme, with the stanza kept; skip: confirmed, not stored)` },
  { key: "uploadOrigins", name: "upload-origins", kind: "origins", valueName: "origins",
    description: "fetch files shared by URL (XEP-0363 uploads) from these origins only and attach them to the mail, e.g. https://share.example.org,http://127.0.0.1:5280 (default: none, nothing is fetched)" },
  { key: "maxUploadBytes", name: "max-upload-bytes", kind: "bytes", valueName: "bytes", default: 16_777_216,
    description: "largest shared file fetched and attached (with --upload-origins); larger ones stay links, with a line saying why" },
  { key: "watch", name: "watch", kind: "trigger", valueName: "trigger", default: "off",
    description: `push new INBOX mail to online users over XMPP: ${WATCH_TRIGGERS.join(", ")} (fs: watch Maildirs; push: Dovecot push_notification posts to --push-port)` },
  { key: "pushPort", name: "push-port", kind: "port", valueName: "port", default: DEFAULT_PUSH_PORT,
    description: "loopback port for Dovecot's push_notification HTTP posts (with --watch push)" },
  { key: "imapUrl", name: "imap-url", kind: "url", valueName: "url",
    description: "IMAP server in links to pushed mail, e.g. imap://mail.example.org (default: imap://<user-domain>)" },
  { key: "smtpUrl", name: "smtp-url", kind: "url", valueName: "url",
    description: "smarthost for mail users send from XMPP to alice\\40example.net@<domain>, e.g. smtp://127.0.0.1:25 (unset: refused)" },
  { key: "smtpMaxPerMinute", name: "smtp-max-per-minute", kind: "count", valueName: "n", default: 20,
    description: "mails one user may send from XMPP in any minute; more are refused with policy-violation until the minute has passed" },
  { key: "smtpMaxPerDay", name: "smtp-max-per-day", kind: "count", valueName: "n", default: 300,
    description: "mails one user may send from XMPP in any 24 hours (counted in --state-dir, so a restart does not reset it)" },
  { key: "uploadService", name: "upload-service", kind: "domain", valueName: "jid",
    description: "XEP-0363 service the bridge uploads pushed mail's attachments to, e.g. upload.example.org (default: found by disco#items on --user-domain); files up to --max-upload-bytes" },
  { key: "metricsPort", name: "metrics-port", kind: "port", valueName: "port",
    description: "serve Prometheus metrics on http://<metrics-host>:<port>/metrics and a health check on /healthz (default: off)" },
  { key: "metricsHost", name: "metrics-host", kind: "host", valueName: "host", default: "127.0.0.1",
    description: "address the metrics endpoint listens on (with --metrics-port); anyone who can reach it can read the metrics" },
  { key: "logLevel", name: "log-level", kind: "level", valueName: "level", default: "info",
    description: `log level: ${LOG_LEVELS.join(", ")}` },
] as const satisfies readonly OptionSpec[];

/** The component secret never comes from a flag: flags show up in `ps` and shell history. */
export const SECRET_ENV = "XMPP_MAILDIR_SECRET";
export const CONFIG_ENV = "XMPP_MAILDIR_CONFIG";

export function envName(name: string): string {
  return `XMPP_MAILDIR_${name.toUpperCase().replaceAll("-", "_")}`;
}

/** What an option of each kind converts to (load.ts `convert`). */
export interface KindValues {
  readonly host: string;
  readonly port: number;
  readonly domain: string;
  readonly template: string;
  readonly level: LogLevel;
  readonly file: string;
  readonly dir: string;
  readonly bytes: number;
  readonly boolean: boolean;
  readonly folder: string;
  readonly url: string;
  readonly trigger: (typeof WATCH_TRIGGERS)[number];
  readonly deliver: Delivery;
  readonly encrypted: EncryptedPolicy;
  readonly origins: OriginList;
  readonly count: number;
}

type RunOption = (typeof RUN_OPTIONS)[number];

/** The converted options by key: those with a default or required always have a value. */
export type RunValues = {
  readonly [O in RunOption as O["key"]]: O extends { readonly default: unknown } | { readonly required: true } ? KindValues[O["kind"]] : KindValues[O["kind"]] | undefined;
};

/** The validated settings of `run`. With --deliver maildir, --maildir is always set. */
export type RunConfig = RunConfigFields & ({ readonly delivery: { readonly kind: "maildir" }; readonly maildir: string } | { readonly delivery: LmtpDelivery });

export type MaildirRunConfig = Extract<RunConfig, { readonly maildir: string }>;

/** The one question config answers about delivery: are we writing the Maildir files ourselves? */
export function deliversToMaildir(config: RunConfig): config is MaildirRunConfig {
  return config.delivery.kind === "maildir";
}

interface RunConfigFields {
  readonly xmppHost: string;
  readonly xmppPort: number;
  readonly domain: string;
  /** --maildir. Always set with `delivery.kind === "maildir"`; optional over LMTP. */
  readonly maildir: string | undefined;
  /** --deliver: write Maildir files ourselves, or hand each mail to an LMTP server. */
  readonly delivery: Delivery;
  readonly userDomain: string;
  readonly secret: string;
  readonly stateDir: string;
  readonly maxStanzaBytes: number;
  /** Chat history settings (docs/chat-history.md); all off by default. */
  readonly chat: ChatSettings;
  /** --encrypted: archive end-to-end encrypted messages (README, "What gets archived") or skip them. */
  readonly encrypted: EncryptedPolicy;
  readonly logLevel: LogLevel;
  /** Mail ↔ XMPP (README, "Mail to XMPP and back"); off unless --watch or --smtp-url is set. */
  readonly bridge: BridgeSettings;
  /** --upload-origins and --max-upload-bytes (README, "Shared files"). Absent means off: nothing is fetched. */
  readonly uploads?: UploadSettings;
  /** --metrics-port and --metrics-host (README, "Metrics"). Absent means off: no listener. */
  readonly metrics?: MetricsSettings;
}

export interface UploadSettings {
  readonly origins: OriginList;
  readonly maxBytes: number;
}

export interface MetricsSettings {
  readonly host: string;
  readonly port: number;
}

/** --deliver. */
export type Delivery = { readonly kind: "maildir" } | LmtpDelivery;
export type LmtpDelivery = { readonly kind: "lmtp"; readonly target: LmtpTarget };
