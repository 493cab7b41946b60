// The allow-list of origins (RFC 6454 §4: scheme, host, port) the fetcher may contact. Parsed once
// at config load, so a typo is a clear error there and never a silent "nothing is allowed" later.

/** Only these schemes are ever fetched; anything else (aesgcm:, ftp:, file:, data:) is refused. */
export const FETCH_SCHEMES: readonly string[] = ["http:", "https:"];

/** A parsed allow-list: the origins, normalised as URL.origin writes them. */
export interface OriginList {
  readonly origins: readonly string[];
  /** Is this URL's origin on the list? */
  allows(url: URL): boolean;
}

/**
 * "https://share.example.org, http://127.0.0.1:5280" (or an array of such strings, from TOML) →
 * an OriginList; throws a plain Error whose message says what is wrong with which entry (config/
 * turns it into a ConfigError naming the key).
 */
export function parseOrigins(value: string | readonly string[]): OriginList {
  const entries = (typeof value === "string" ? value.split(",") : [...value]).map((s) => s.trim()).filter((s) => s !== "");
  const origins = entries.map(parseOrigin);
  const set = new Set(origins);
  return { origins: [...set], allows: (url) => set.has(url.origin) };
}

function parseOrigin(entry: string): string {
  let url: URL;
  try {
    url = new URL(entry);
  } catch {
    throw new Error(`${JSON.stringify(entry)} is not a URL; write an origin such as https://share.example.org or http://127.0.0.1:5280`);
  }
  if (!FETCH_SCHEMES.includes(url.protocol)) throw new Error(`${JSON.stringify(entry)}: only http and https origins can be fetched from`);
  // An origin is scheme://host[:port] and nothing else: a path here would suggest a narrower
  // allow-list than the one enforced (the whole origin), and credentials would be sent to it.
  if (url.username || url.password) throw new Error(`${JSON.stringify(entry)}: an origin has no user name or password`);
  if ((url.pathname !== "/" && url.pathname !== "") || url.search || url.hash) {
    throw new Error(`${JSON.stringify(entry)}: give the origin only (scheme://host:port), without a path, query or fragment; every path on it is allowed`);
  }
  return url.origin;
}
