// Flags, environment and a TOML file → one validated RunConfig. Precedence: flag > env > file >
// default. Every error names the key, where the value came from, and how to fix it.
import { readFileSync } from "node:fs";
import path from "node:path";
import { parse as parseToml } from "smol-toml";
import { ENCRYPTED_POLICIES } from "../capture/index.js";
import { ConfigError } from "../errors.js";
import { parseOrigins } from "../fetch/index.js";
import { compileTemplate, isFolderName, templateRoot } from "../maildir/index.js";
import { parseDeliver } from "./deliver.js";
import {
  CONFIG_ENV, LOG_LEVELS, RUN_OPTIONS, SECRET_ENV, WATCH_TRIGGERS, envName,
  type Delivery, type KindValues, type LmtpDelivery, type OptionKind, type OptionSpec, type RunConfig, type RunValues,
} from "./options.js";

export interface ConfigSources {
  /** Values from the command line, keyed by option name ("xmpp-port"); undefined when not given. */
  readonly flags: Readonly<Record<string, string | undefined>>;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Path of the TOML file, if any (--config). Falls back to XMPP_MAILDIR_CONFIG. */
  readonly configFile?: string | undefined;
  readonly readFile?: (path: string) => string;
}

export type Raw = { value: unknown; origin: string };

export function loadRunConfig(sources: ConfigSources): RunConfig {
  const readFile = sources.readFile ?? ((p: string) => readFileSync(p, "utf8"));
  const known = new Set<string>(RUN_OPTIONS.map((o) => o.name));
  const file = readConfigFile(sources.configFile ?? sources.env[CONFIG_ENV], readFile, known);
  checkEnv(sources.env, known);

  const pick = (spec: OptionSpec): Raw | undefined => {
    const raw = pickValue(spec, sources, file);
    if (!raw && "required" in spec && spec.required) throw requiredError(spec);
    return raw;
  };

  const values = readValues(RUN_OPTIONS, pick) as RunValues;
  const { domain, deliver: delivery, maildir } = values;
  const userDomain = values.userDomain ?? deriveUserDomain(domain);
  const located = checkDeliveryNeeds(delivery, values);
  if (values.smtpMaxPerMinute > values.smtpMaxPerDay) {
    throw new ConfigError("smtp-max-per-minute", `is ${values.smtpMaxPerMinute}, more than smtp-max-per-day (${values.smtpMaxPerDay}); lower it or raise smtp-max-per-day`);
  }
  const secret = readSecret(sources.env, values.secretFile, readFile);
  const fields = {
    xmppHost: values.xmppHost,
    xmppPort: values.xmppPort,
    domain,
    userDomain,
    secret,
    stateDir: values.stateDir ?? path.join(templateRoot(located.stateRoot), ".xmpp-maildir"),
    maxStanzaBytes: values.maxStanzaBytes,
    chat: {
      history: values.chatHistory,
      groupchat: values.groupchat,
      folder: values.chatsFolder,
      // Keywords come with chat history unless set either way: clients and Sieve filter on them.
      keywords: values.keywords ?? values.chatHistory,
      maxAttachmentBytes: values.maxAttachmentBytes,
    },
    encrypted: values.encrypted,
    logLevel: values.logLevel,
    bridge: {
      trigger: values.watch === "off" ? undefined : values.watch,
      pushPort: values.pushPort,
      imapUrl: (values.imapUrl ?? `imap://${userDomain}`).replace(/\/+$/, ""),
      smtpUrl: values.smtpUrl,
      smtpLimits: { perMinute: values.smtpMaxPerMinute, perDay: values.smtpMaxPerDay },
      uploadService: values.uploadService, maxUploadBytes: values.maxUploadBytes,
    },
    ...(values.uploadOrigins && values.uploadOrigins.origins.length > 0 ? { uploads: { origins: values.uploadOrigins, maxBytes: values.maxUploadBytes } } : {}),
    ...(values.metricsPort !== undefined ? { metrics: { host: values.metricsHost, port: values.metricsPort } } : {}),
  };
  return "maildir" in located ? { ...fields, delivery: located.delivery, maildir: located.maildir } : { ...fields, delivery: located.delivery, maildir };
}

/**
 * Converts every option that has a value. The one cast from the generic table to RunValues is the
 * caller's, right here in the loader: RUN_OPTIONS and KindValues say what each key holds.
 */
export function readValues(specs: readonly OptionSpec[], pick: (spec: OptionSpec) => Raw | undefined): Partial<Record<string, KindValues[OptionKind]>> {
  const values: Partial<Record<string, KindValues[OptionKind]>> = {};
  for (const spec of specs) {
    const raw = pick(spec);
    if (raw) values[spec.key] = convert(spec, raw);
  }
  return values;
}

function requiredError(spec: OptionSpec, when = ""): ConfigError {
  return new ConfigError(spec.name, `is required${when}; pass --${spec.name} <${spec.valueName}>, set ${envName(spec.name)}, or add ${spec.name} = ... to the config file`);
}

function spec(name: string): OptionSpec {
  return RUN_OPTIONS.find((o) => o.name === name)!;
}

/**
 * --maildir is what we write to in Maildir mode. Over LMTP, Dovecot writes the Maildirs, which may
 * live on other hosts, so --maildir is needed only by what still reads or writes them here: the
 * mail watch (--watch), the Sent copy of mail sent from XMPP (--smtp-url), and the default
 * --state-dir.
 */
function checkDeliveryNeeds(
  delivery: Delivery,
  values: RunValues,
): { delivery: { kind: "maildir" }; maildir: string; stateRoot: string } | { delivery: LmtpDelivery; stateRoot: string } {
  // The folder travels in the recipient address (alice+Chats@example.org), and Dovecot 2.3's LMTP
  // takes no SMTPUTF8 (RFC 6531) address: it answers 501.
  if (delivery.kind === "lmtp" && !/^[\x20-\x7e]+$/.test(values.chatsFolder)) {
    throw new ConfigError("chats-folder", `must be ASCII with --deliver lmtp (the folder is part of the LMTP recipient, which Dovecot 2.3 takes in ASCII only), got ${JSON.stringify(values.chatsFolder)}`);
  }
  const { maildir, stateDir } = values;
  if (maildir !== undefined) return delivery.kind === "maildir" ? { delivery, maildir, stateRoot: maildir } : { delivery, stateRoot: maildir };
  if (delivery.kind === "maildir") throw requiredError(spec("maildir"));
  if (stateDir === undefined) {
    throw requiredError(spec("state-dir"), " with --deliver lmtp when --maildir is not set (it holds the dedupe journal, e.g. /var/lib/xmpp-maildir)");
  }
  if (values.watch !== "off") {
    throw new ConfigError("watch", "needs --maildir (the Maildirs to watch for new mail), also with --deliver lmtp; set --maildir, or turn --watch off");
  }
  if (values.smtpUrl !== undefined) {
    throw new ConfigError("smtp-url", "needs --maildir (a copy of each mail sent goes into the user's Sent folder there), also with --deliver lmtp; set --maildir, or unset --smtp-url");
  }
  return { delivery, stateRoot: stateDir };
}

/** Where an option's value comes from: flag > env > file > default. */
export function pickValue(spec: OptionSpec, sources: ConfigSources, file: ReturnType<typeof readConfigFile>): Raw | undefined {
  const flag = sources.flags[spec.name];
  if (flag !== undefined) return { value: flag, origin: `--${spec.name}` };
  const env = sources.env[envName(spec.name)];
  if (env !== undefined) return { value: env, origin: envName(spec.name) };
  if (file && spec.name in file.values) return { value: file.values[spec.name], origin: `${spec.name} in ${file.path}` };
  if (spec.default !== undefined) return { value: spec.default, origin: "default" };
  return undefined;
}

export function readConfigFile(path: string | undefined, readFile: (p: string) => string, known: Set<string>) {
  if (!path) return undefined;
  let text: string;
  try {
    text = readFile(path);
  } catch (err) {
    throw new ConfigError("config", `cannot read ${path}: ${(err as Error).message}; check the path given to --config`);
  }
  let values: Record<string, unknown>;
  try {
    values = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError("config", `${path} is not valid TOML: ${(err as Error).message.split("\n")[0]}`);
  }
  for (const key of Object.keys(values)) {
    if (key === "secret") {
      throw new ConfigError("secret", `is not read from ${path}; put the secret in its own file and set secret-file, or set ${SECRET_ENV}`);
    }
    if (!known.has(key)) {
      throw new ConfigError(key, `unknown key in ${path}; known keys: ${[...known].join(", ")}`);
    }
  }
  return { path, values };
}

/** A misspelt XMPP_MAILDIR_ variable would otherwise be ignored without a word. */
export function checkEnv(env: Readonly<Record<string, string | undefined>>, known: Set<string>): void {
  const allowed = new Set([SECRET_ENV, CONFIG_ENV, ...[...known].map(envName)]);
  for (const name of Object.keys(env)) {
    if (name.startsWith("XMPP_MAILDIR_") && !allowed.has(name)) {
      throw new ConfigError(name, `unknown environment variable; known: ${[...allowed].join(", ")}`);
    }
  }
}

/** --smtp-max-per-*: far above any person's need, low enough that a typo of extra zeros shows. */
const MAX_COUNT = 1_000_000;

/** --chats-folder: one IMAP name, far shorter than the 255 bytes a directory name may have. */
const MAX_FOLDER_CHARS = 100;

const DOMAIN = /^(?=.{1,253}$)[\p{L}\p{N}]([\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?(\.[\p{L}\p{N}]([\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?)*$/u;

export function convert(spec: OptionSpec, raw: Raw): KindValues[OptionKind] {
  const fail: (what: string) => never = (what) => {
    throw new ConfigError(spec.name, `${what}, got ${JSON.stringify(raw.value)} (from ${raw.origin})`);
  };
  const text = typeof raw.value === "string" ? raw.value.trim() : raw.value;
  switch (spec.kind) {
    case "port": {
      const n = typeof text === "number" ? text : typeof text === "string" && /^\d+$/.test(text) ? Number(text) : NaN;
      if (!Number.isInteger(n) || n < 1 || n > 65535) fail("must be a whole number from 1 to 65535");
      return n;
    }
    case "level":
      if (typeof text !== "string" || !(LOG_LEVELS as readonly string[]).includes(text)) fail(`must be one of ${LOG_LEVELS.join(", ")}`);
      return text;
    case "domain":
      if (typeof text !== "string" || !DOMAIN.test(text)) fail("must be a domain name such as archive.example.org");
      return text.toLowerCase();
    case "template":
      if (typeof text !== "string" || !text) fail("must be a path template such as /var/vmail/%d/%n/Maildir");
      compileTemplate(text, spec.name);
      return text;
    case "bytes": {
      const n = typeof text === "number" ? text : typeof text === "string" && /^\d+$/.test(text) ? Number(text) : NaN;
      if (!Number.isSafeInteger(n) || n < 1024) fail("must be a whole number of bytes, at least 1024");
      return n;
    }
    case "boolean": {
      if (typeof text === "boolean") return text;
      const word = typeof text === "string" ? text.toLowerCase() : "";
      if (["true", "yes", "on", "1"].includes(word)) return true;
      if (["false", "no", "off", "0"].includes(word)) return false;
      return fail("must be true or false");
    }
    case "folder":
      // One IMAP folder name, without the hierarchy separator: it becomes the Maildir++ directory
      // .<name> (https://doc.dovecot.org/2.3/admin_manual/mailbox_formats/maildir/#directory-structure).
      if (typeof text !== "string" || !isFolderName(text) || [...text].length > MAX_FOLDER_CHARS) {
        fail("must be a folder name without '.', '/', '~' at the start, or control characters, and not INBOX");
      }
      return text;
    case "url": {
      // --smtp-url (smtp:, smtps:) and --imap-url (imap:). The value may hold a password: the
      // error shows only the scheme.
      const scheme = spec.name === "imap-url" ? ["imap:"] : ["smtp:", "smtps:"];
      let url: URL | undefined;
      try {
        url = typeof text === "string" ? new URL(text) : undefined;
      } catch {
        url = undefined;
      }
      if (typeof text !== "string" || !url || !scheme.includes(url.protocol) || !url.hostname) {
        throw new ConfigError(spec.name, `must be a URL such as ${scheme[0]}//host:port (from ${raw.origin})`);
      }
      return text;
    }
    case "encrypted":
      if (typeof text !== "string" || !(ENCRYPTED_POLICIES as readonly string[]).includes(text)) fail(`must be one of ${ENCRYPTED_POLICIES.join(", ")}`);
      return text;
    case "origins": {
      // A comma-separated string (flag, env) or a TOML array of strings.
      const list = typeof text === "string" ? text : Array.isArray(text) && text.every((v) => typeof v === "string") ? (text as string[]) : undefined;
      if (list === undefined) return fail("must be a list of origins such as https://share.example.org,http://127.0.0.1:5280");
      try {
        return parseOrigins(list);
      } catch (err) {
        throw new ConfigError(spec.name, `${(err as Error).message} (from ${raw.origin})`);
      }
    }
    case "trigger":
      if (typeof text !== "string" || !(WATCH_TRIGGERS as readonly string[]).includes(text)) fail(`must be one of ${WATCH_TRIGGERS.join(", ")}`);
      return text;
    case "deliver": {
      const parsed = typeof text === "string" ? parseDeliver(text) : { problem: "must be a string" };
      if ("problem" in parsed) return fail(parsed.problem);
      return parsed;
    }
    case "count": {
      const n = typeof text === "number" ? text : typeof text === "string" && /^\d+$/.test(text) ? Number(text) : NaN;
      if (!Number.isSafeInteger(n) || n < 1 || n > MAX_COUNT) fail(`must be a whole number from 1 to ${MAX_COUNT}`);
      return n;
    }
    case "dir":
      if (typeof text !== "string" || !path.isAbsolute(text)) fail("must be an absolute path");
      return text;
    case "host":
    case "file":
      if (typeof text !== "string" || !text) fail("must not be empty");
      return text;
  }
}

/** archive.example.org → example.org: the component normally sits one label below its server. */
export function deriveUserDomain(domain: string): string {
  const dot = domain.indexOf(".");
  if (dot === -1) {
    throw new ConfigError("user-domain", `cannot be derived from domain '${domain}'; set --user-domain to your users' domain, e.g. example.org`);
  }
  return domain.slice(dot + 1);
}

export function readSecret(env: Readonly<Record<string, string | undefined>>, file: string | undefined, readFile: (p: string) => string): string {
  let secret: string | undefined;
  if (file) {
    try {
      // A trailing newline from `echo secret > file` is not part of the secret.
      secret = readFile(file).replace(/\r?\n$/, "");
    } catch (err) {
      throw new ConfigError("secret-file", `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; check the path and that the mail user may read it`);
    }
  } else {
    secret = env[SECRET_ENV];
  }
  if (!secret) {
    throw new ConfigError("secret", `is missing; set ${SECRET_ENV} or point secret-file at a file holding the component_secret from the server config`);
  }
  return secret;
}
