// What we read from nodemailer's errors (nodemailer lib/errors.js), for the two clients built on
// it: the LMTP client (src/delivery/lmtp) and the SMTP sender (src/bridge/outbound). Each turns
// them into its own typed error (LmtpError, SmtpError).

/** The fields of nodemailer's errors we read. */
export interface NodemailerError extends Error {
  code?: string | undefined;
  /** The server's reply code (452, 550); undefined when there was no reply. */
  responseCode?: number | undefined;
  /** The server's reply line. */
  response?: string | undefined;
  command?: string | undefined;
  originalCode?: string | undefined;
}

/** nodemailer's codes for a connection that could not be made or broke. */
export const CONNECTION_CODES: ReadonlySet<string> = new Set(["ECONNECTION", "ETIMEDOUT", "ESOCKET", "EDNS"]);

/** Did the connection fail (rather than the server answer)? */
export function isConnectionFailure(err: NodemailerError, codes: ReadonlySet<string> = CONNECTION_CODES): boolean {
  return err.code !== undefined && codes.has(err.code);
}
