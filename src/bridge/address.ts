// JID node escaping (XEP-0106 §4): lets an email address stand as the local part of a JID at the
// component, e.g. alice@example.net → alice\40example.net@archive.example.org, so that a reply
// to the pushed message comes back to us and names its recipient.

/** XEP-0106 §4.2: the ten characters a localpart cannot hold, and their escapes. */
const ESCAPES: ReadonlyMap<string, string> = new Map([
  [" ", "\\20"], ['"', "\\22"], ["&", "\\26"], ["'", "\\27"], ["/", "\\2f"],
  [":", "\\3a"], ["<", "\\3c"], [">", "\\3e"], ["@", "\\40"], ["\\", "\\5c"],
]);
const UNESCAPES: ReadonlyMap<string, string> = new Map([...ESCAPES].map(([raw, esc]) => [esc.slice(1), raw]));
const ESCAPE_SEQUENCE = /\\(20|22|26|27|2f|3a|3c|3e|40|5c)/gi;

/**
 * XEP-0106 §4.3: a backslash is escaped only where it would otherwise start an escape sequence,
 * so `a\b` stays as is and `a\40b` (literally) becomes `a\5c40b`. Leading or trailing spaces
 * are not allowed in the escaped form (§4.3 rule 2), which no mail address has anyway.
 */
export function escapeNode(raw: string): string {
  let out = "";
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!;
    if (ch === "\\") {
      const next = raw.slice(i + 1, i + 3).toLowerCase();
      out += UNESCAPES.has(next) ? "\\5c" : "\\";
    } else {
      out += ESCAPES.get(ch) ?? ch;
    }
  }
  return out;
}

/** The inverse of escapeNode. Hex digits are matched in either case (servers may fold them). */
export function unescapeNode(escaped: string): string {
  return escaped.replace(ESCAPE_SEQUENCE, (_, hex: string) => UNESCAPES.get(hex.toLowerCase())!);
}

/** alice@example.net at archive.example.org → `alice\40example.net@archive.example.org`. */
export function addressToJid(address: string, componentDomain: string): string {
  return `${escapeNode(address.toLowerCase())}@${componentDomain}`;
}
