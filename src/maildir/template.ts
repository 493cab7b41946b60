// Maps a user to a Maildir path with Dovecot's mail_location variables, so one string serves both:
// https://doc.dovecot.org/2.3/configuration_manual/config_file/config_variables/#user-variables
//   %u = user@domain, %n = local part, %d = domain, %% = a literal percent sign.
import path from "node:path";
import { BadAddressError, ConfigError } from "../errors.js";

export interface MailboxOwner {
  readonly local: string;
  readonly domain: string;
}

export type MaildirResolver = (owner: MailboxOwner) => string;

const VARIABLE = /%(.)/g;
const KNOWN = new Set(["u", "n", "d", "%"]);

/**
 * Validates the template once (at startup, as a config error) and returns a resolver that
 * refuses, per message, any user whose parts could take the path outside the template's root.
 */
export function compileTemplate(template: string, key = "maildir"): MaildirResolver {
  if (!path.isAbsolute(template)) {
    throw new ConfigError(key, `must be an absolute path, got '${template}'; for example /var/vmail/%d/%n/Maildir`);
  }
  const tokens = [...template.matchAll(VARIABLE)];
  for (const [, v] of tokens) {
    if (!KNOWN.has(v!)) {
      throw new ConfigError(key, `unknown variable '%${v}' in '${template}'; use %u (user@domain), %n (local part), %d (domain)`);
    }
  }
  if (!tokens.some(([, v]) => v === "n" || v === "u")) {
    throw new ConfigError(key, `'${template}' has no %n or %u, so every user would share one Maildir; for example /var/vmail/%d/%n/Maildir`);
  }
  const root = templateRoot(template);
  const rootWithSep = root.endsWith(path.sep) ? root : root + path.sep;

  return (owner) => {
    assertSafePart(owner.local, "local part");
    assertSafePart(owner.domain, "domain");
    const resolved = template.replace(VARIABLE, (_, v: string) =>
      v === "u" ? `${owner.local}@${owner.domain}` : v === "n" ? owner.local : v === "d" ? owner.domain : "%",
    );
    // Belt and braces: whatever the parts were, the result must stay below the static root.
    const normal = path.resolve(resolved);
    if (!normal.startsWith(rootWithSep)) {
      throw new BadAddressError(`address ${owner.local}@${owner.domain} would leave the Maildir root ${root}`);
    }
    return normal;
  };
}

/** The directory that holds every user's Maildir: the static part of the template up to its last '/'. */
export function templateRoot(template: string): string {
  const firstVariable = [...template.matchAll(VARIABLE)].find(([, v]) => v !== "%")?.index ?? template.length;
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
