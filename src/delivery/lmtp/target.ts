// An LMTP server (RFC 2033): TCP (lmtp://host:port) or a Unix socket (lmtp:/path). config/ parses
// --deliver into this; the client connects to it.

export type LmtpTarget =
  | { readonly host: string; readonly port: number; readonly socket?: undefined }
  | { readonly socket: string; readonly host?: undefined; readonly port?: undefined };

/** lmtp://127.0.0.1:24 or lmtp:/run/dovecot/lmtp, for logs and errors. */
export function describeTarget(target: LmtpTarget): string {
  if (target.socket !== undefined) return `lmtp:${target.socket}`;
  return `lmtp://${target.host.includes(":") ? `[${target.host}]` : target.host}:${target.port}`;
}
