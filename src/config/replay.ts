// The settings `replay` and `import` share with `run`: the same option table, flags, XMPP_MAILDIR_*
// variables and TOML keys, with the same precedence (flag > env > file > default) and errors. Which
// of them are required depends on the target: the secret only to replay into XMPP, the domain
// (the right-hand side of Message-IDs) to write mail or to send as the component.
import { readFileSync } from "node:fs";
import { ConfigError } from "../errors.js";
import { checkEnv, deriveUserDomain, pickValue, readConfigFile, readSecret, readValues, type ConfigSources } from "./load.js";
import { CONFIG_ENV, RUN_OPTIONS, envName, type LogLevel, type RunValues } from "./options.js";

export interface ReplayConfig {
  readonly xmppHost: string;
  readonly xmppPort: number;
  readonly domain: string | undefined;
  readonly userDomain: string | undefined;
  readonly maildir: string | undefined;
  readonly secret: string | undefined;
  readonly logLevel: LogLevel;
}

/** The run options replay and import read; the rest (state-dir, size limits) belong to `run`. */
export const REPLAY_CONFIG_KEYS = ["xmpp-host", "xmpp-port", "domain", "maildir", "user-domain", "secret-file", "log-level"] as const;

export interface ReplayNeeds {
  readonly domain: boolean;
  readonly maildir: boolean;
  readonly secret: boolean;
}

export function loadReplayConfig(sources: ConfigSources, needs: ReplayNeeds): ReplayConfig {
  const readFile = sources.readFile ?? ((p: string) => readFileSync(p, "utf8"));
  const known = new Set<string>(RUN_OPTIONS.map((o) => o.name));
  const file = readConfigFile(sources.configFile ?? sources.env[CONFIG_ENV], readFile, known);
  checkEnv(sources.env, known);
  const required = new Set<string>([...(needs.domain ? ["domain"] : []), ...(needs.maildir ? ["maildir"] : [])]);
  const specs = RUN_OPTIONS.filter((spec) => (REPLAY_CONFIG_KEYS as readonly string[]).includes(spec.name));
  const values = readValues(specs, (spec) => {
    const raw = pickValue(spec, sources, file);
    if (!raw && required.has(spec.name)) {
      throw new ConfigError(spec.name, `is required here; pass --${spec.name} <${spec.valueName}>, set ${envName(spec.name)}, or add ${spec.name} = ... to the config file`);
    }
    return raw;
  }) as ReplayValues;
  const { domain } = values;
  const userDomain = values.userDomain ?? (domain && domain.includes(".") ? deriveUserDomain(domain) : undefined);
  return {
    xmppHost: values.xmppHost,
    xmppPort: values.xmppPort,
    domain,
    userDomain,
    maildir: values.maildir,
    secret: needs.secret ? readSecret(sources.env, values.secretFile, readFile) : undefined,
    logLevel: values.logLevel,
  };
}

/** The options replay reads (REPLAY_CONFIG_KEYS): those with a default always have a value. */
type ReplayValues = Pick<RunValues, "xmppHost" | "xmppPort" | "logLevel"> & Partial<Pick<RunValues, "domain" | "maildir" | "userDomain" | "secretFile">>;

/**
 * A setting this command needs. loadReplayConfig has refused a missing one already when `needs`
 * said so; this turns the optional type into the value without a `!`.
 */
export function needed<T>(value: T | undefined, key: string): T {
  if (value === undefined) throw new ConfigError(key, "is required here");
  return value;
}

