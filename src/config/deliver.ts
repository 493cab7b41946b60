// --deliver: "maildir" (we write the files), or an LMTP server (RFC 2033) that stores the mail:
// lmtp://host:port over TCP, or lmtp:/path/to/socket for a Unix socket on this host (Dovecot's
// own listener is <base_dir>/lmtp; lmtp:///path is accepted too). LMTP has no well-known port (RFC 2033 §6 forbids using 25),
// so the port is required rather than guessed.
import path from "node:path";
import { describeTarget } from "../delivery/index.js";
import type { Delivery, RunConfig } from "./options.js";

export const DELIVER_FORMS = "maildir, lmtp://host:port or lmtp:/path/to/socket";

/** Returns the delivery, or why the value is not one (the caller names the key and the source). */
export function parseDeliver(value: string): Delivery | { readonly problem: string } {
  if (value === "maildir") return { kind: "maildir" };
  if (!value.toLowerCase().startsWith("lmtp:")) {
    return { problem: `must be ${DELIVER_FORMS}` };
  }
  // lmtp:///run/dovecot/lmtp (an empty host, as in file:///) is the same socket.
  const rest = value.slice("lmtp:".length).replace(/^\/\/(?=\/)/, "");
  if (!rest.startsWith("//")) {
    // lmtp:/run/dovecot/lmtp: a Unix socket. No host part, so no '//' (that would be a host).
    if (!path.isAbsolute(rest) || rest.includes("\0")) return { problem: "a Unix socket must be an absolute path, as in lmtp:/run/dovecot/lmtp" };
    return { kind: "lmtp", target: { socket: path.normalize(rest) } };
  }
  const port = /:(\d+)\/?$/.exec(rest)?.[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) return { problem: "must have a port from 1 to 65535" };
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { problem: `is not a URL; use ${DELIVER_FORMS}` };
  }
  if (!url.hostname) return { problem: "has no host; use lmtp://host:port, e.g. lmtp://127.0.0.1:24" };
  // new URL() drops a port that is the scheme's default, but lmtp: has none, so "" means none given.
  if (!url.port) return { problem: "has no port (LMTP has no default port); use lmtp://host:port, e.g. lmtp://127.0.0.1:24" };
  if (url.username || url.password || (url.pathname && url.pathname !== "/") || url.search || url.hash) {
    return { problem: "must be just lmtp://host:port: LMTP takes no login, path or query" };
  }
  // [::1] → ::1 for net.connect.
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  return { kind: "lmtp", target: { host, port: Number(url.port) } };
}


/** "maildir", or the LMTP server as lmtp://host:port or lmtp:/path, for logs and `check`. */
export function describeDelivery(delivery: Delivery): string {
  return delivery.kind === "lmtp" ? describeTarget(delivery.target) : "maildir";
}

/** "maildir=/var/vmail/%d/%n/Maildir", or "deliver=lmtp://… [maildir=…]" over LMTP, for `check`. */
export function describeStorage(config: RunConfig): string {
  const deliver = config.delivery.kind === "lmtp" ? `deliver=${describeTarget(config.delivery.target)}` : "";
  return [deliver, config.maildir === undefined ? "" : `maildir=${config.maildir}`].filter(Boolean).join(" ");
}
