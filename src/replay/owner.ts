// Whose archive a stanza belongs to when the source does not say (a single Maildir, an NDJSON line
// without "owner"): its recipient, with user@<component domain> mapped to user@<user domain>, as
// captureDirect does when it archives a direct message.
import { type Jid } from "../jid.js";

export interface Domains {
  /** The component's domain (archive.example.org); Message-IDs are made on it. */
  readonly componentDomain: string | undefined;
  readonly userDomain: string | undefined;
}

export function inferOwner(to: Jid, domains: Domains): Jid {
  if (domains.componentDomain && domains.userDomain && to.domain === domains.componentDomain && to.local) {
    return { local: to.local, domain: domains.userDomain, resource: "" };
  }
  return { local: to.local, domain: to.domain, resource: "" };
}
