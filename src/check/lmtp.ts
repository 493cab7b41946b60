// Does the LMTP server of --deliver answer? One connection and LHLO (RFC 2033 §4.1), then QUIT.
import net from "node:net";
import SMTPConnection from "nodemailer/lib/smtp-connection/index.js";
import { describeTarget, type LmtpTarget } from "../delivery/index.js";
import type { CheckResult } from "./types.js";

/** An LMTP greeting on a LAN takes milliseconds; a server that does not answer in 5 s is broken. */
const PROBE_TIMEOUT_MS = 5_000;

export async function checkLmtp(target: LmtpTarget, name: string): Promise<CheckResult> {
  const where = describeTarget(target);
  const conn = new SMTPConnection({
    lmtp: true,
    name,
    ignoreTLS: true,
    connectionTimeout: PROBE_TIMEOUT_MS,
    greetingTimeout: PROBE_TIMEOUT_MS,
    socketTimeout: PROBE_TIMEOUT_MS,
    ...(target.socket !== undefined ? { connection: net.createConnection({ path: target.socket }) } : { host: target.host, port: target.port }),
  });
  try {
    await new Promise<void>((resolve, reject) => {
      conn.once("error", reject);
      conn.once("end", () => reject(new Error("the server closed the connection")));
      conn.connect((err) => (err ? reject(err) : resolve()));
    });
    conn.quit();
    return { name: "lmtp", status: "ok", detail: `${where} answers LHLO` };
  } catch (err) {
    const e = err as Error & { code?: string; originalCode?: string };
    const code = e.originalCode ?? e.code ?? e.message;
    const fix = target.socket !== undefined
      ? `start Dovecot with protocols = lmtp, check that ${target.socket} is its lmtp unix_listener and that this user may connect to it, or fix --deliver`
      : `start Dovecot with protocols = lmtp and an inet_listener lmtp on port ${target.port}, or fix --deliver`;
    return { name: "lmtp", status: "fail", detail: `cannot talk LMTP to ${where} (${code})`, fix };
  } finally {
    conn.close();
  }
}
