// Maps a user to a Maildir path with Dovecot's variables, so the admin copies one string from
// dovecot.conf. Both generations of Dovecot's syntax are accepted:
//   2.3 mail_location: https://doc.dovecot.org/2.3/configuration_manual/config_file/config_variables/#user-variables
//     %u = user@domain, %n = local part, %d = domain, %% = a literal percent sign.
//   2.4 mail_path: https://doc.dovecot.org/2.4.1/core/settings/variables.html
//     %{user} = user@domain, %{user | username} = local part, %{user | domain} = domain.
import path from "node:path";
import { BadAddressError, ConfigError } from "../errors.js";

export interface MailboxOwner {
  readonly local: string;
  readonly domain: string;
}

export type MaildirResolver = (owner: MailboxOwner) => string;

/** What a variable stands for: the whole address, its local part, its domain, or a literal '%'. */
type Part = "user" | "local" | "domain" | "percent";

/** `%{...}` (2.4, up to the first '}') or `%` and one character (2.3). */
const VARIABLE = /%(\{[^}]*\}?|.?)/g;
const SHORT: Readonly<Record<string, Part>> = { u: "user", n: "local", d: "domain", "%": "percent" };
/** 2.4's forms, with the spaces around '|' taken out; other filters (lower, md5 …) are refused. */
const BRACED: Readonly<Record<string, Part>> = { "{user}": "user", "{user|username}": "local", "{user|domain}": "domain" };
const SUPPORTED =
  "supported: %u or %{user} (user@domain), %n or %{user | username} (local part), %d or %{user | domain} (domain), %% (a literal %)";

interface Token {
  readonly index: number;
  readonly text: string;
  readonly part: Part;
}

function tokens(template: string, key: string): Token[] {
  return [...template.matchAll(VARIABLE)].map((m) => {
    const body = m[1] ?? "";
    const part = body.startsWith("{") ? BRACED[body.replace(/\s+/g, "")] : SHORT[body];
    if (part === undefined) {
      throw new ConfigError(key, `unknown variable '${m[0]}' in '${template}'; ${SUPPORTED}`);
    }
    return { index: m.index, text: m[0], part };
  });
}

/**
 * Validates the template once (at startup, as a config error) and returns a resolver that
 * refuses, per message, any user whose parts could take the path outside the template's root.
 */
export function compileTemplate(template: string, key = "maildir"): MaildirResolver {
  if (!path.isAbsolute(template)) {
    throw new ConfigError(key, `must be an absolute path, got '${template}'; for example /var/vmail/%d/%n/Maildir`);
  }
  const parts = tokens(template, key);
  if (!parts.some((t) => t.part === "local" || t.part === "user")) {
    throw new ConfigError(key, `'${template}' has no %n or %u (or %{user}), so every user would share one Maildir; for example /var/vmail/%d/%n/Maildir`);
  }
  const root = templateRoot(template, key);
  const rootWithSep = root.endsWith(path.sep) ? root : root + path.sep;

  return (owner) => {
    assertSafePart(owner.local, "local part");
    assertSafePart(owner.domain, "domain");
    const value: Record<Part, string> = { user: `${owner.local}@${owner.domain}`, local: owner.local, domain: owner.domain, percent: "%" };
    let resolved = "";
    let at = 0;
    for (const t of parts) {
      resolved += template.slice(at, t.index) + value[t.part];
      at = t.index + t.text.length;
    }
    resolved += template.slice(at);
    // Belt and braces: whatever the parts were, the result must stay below the static root.
    const normal = path.resolve(resolved);
    if (!normal.startsWith(rootWithSep)) {
      throw new BadAddressError(`address ${owner.local}@${owner.domain} would leave the Maildir root ${root}`);
    }
    return normal;
  };
}

/** The directory that holds every user's Maildir: the static part of the template up to its last '/'. */
export function templateRoot(template: string, key = "maildir"): string {
  const parts = tokens(template, key);
  const firstVariable = parts.find((t) => t.part !== "percent")?.index ?? template.length;
  const prefix = template.slice(0, firstVariable).replaceAll("%%", "%");
  return path.resolve(prefix.endsWith("/") ? prefix : path.dirname(prefix));
}

// C0 controls, DEL and C1 controls: never part of a file name we create.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Refuses what could change the meaning of a path: empty, `.`, `..`, `/`, NUL, control characters. */
export function assertSafePart(part: string, what: string): void {
  if (part === "") throw new BadAddressError(`empty ${what}`);
  if (part === "." || part === "..") throw new BadAddressError(`${what} '${part}' is a path component`);
  if (part.includes("/")) throw new BadAddressError(`${what} contains '/'`);
  if (CONTROL.test(part)) throw new BadAddressError(`${what} contains a control character`);
}
