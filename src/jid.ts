// A JID as plain data. Parsing follows RFC 7622 §3.1: [ localpart "@" ] domainpart [ "/" resourcepart ].
// We do not run PRECIS here; the XMPP server already prepared every address it routed to us.
// Local and domain parts are case-folded to lower case so one user maps to one Maildir.

export interface Jid {
  readonly local: string;
  readonly domain: string;
  readonly resource: string;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Returns null for anything that is not a syntactically valid JID. */
export function parseJid(input: string | undefined): Jid | null {
  if (!input) return null;
  const slash = input.indexOf("/");
  const bare = slash === -1 ? input : input.slice(0, slash);
  const resource = slash === -1 ? "" : input.slice(slash + 1);
  const at = bare.indexOf("@");
  if (at !== bare.lastIndexOf("@")) return null;
  const local = at === -1 ? "" : bare.slice(0, at);
  const domain = at === -1 ? bare : bare.slice(at + 1);
  if (!domain || (at !== -1 && !local) || (slash !== -1 && !resource)) return null;
  // RFC 7622 §3.2-3.4: each part is at most 1023 octets, and PRECIS (RFC 8264 §9) allows no
  // control characters anywhere, nor spaces in the local part or domain.
  for (const part of [local, domain, resource]) {
    if (Buffer.byteLength(part) > 1023 || CONTROL.test(part)) return null;
  }
  if (/\s/.test(local) || /\s/.test(domain)) return null;
  return { local: local.toLowerCase(), domain: domain.toLowerCase(), resource };
}

/** local@domain (or the domain alone); takes a Jid or a mailbox owner. */
export function bare(jid: Pick<Jid, "local" | "domain">): string {
  return jid.local ? `${jid.local}@${jid.domain}` : jid.domain;
}

/** The same JID without its resource. */
export function bareJid(jid: Pick<Jid, "local" | "domain">): Jid {
  return { local: jid.local, domain: jid.domain, resource: "" };
}

export function full(jid: Jid): string {
  return jid.resource ? `${bare(jid)}/${jid.resource}` : bare(jid);
}
