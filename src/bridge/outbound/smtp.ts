// Hands composed mail to the smarthost (--smtp-url) with nodemailer. Temporary failures (4xx
// replies, RFC 5321 §4.2.1, and connections that fail) are retried with backoff before the user
// hears of them; a 5xx is final at once.
import nodemailer from "nodemailer";
import { SmtpError } from "../../errors.js";
import type { Logger } from "../../log/index.js";
import { isConnectionFailure, type NodemailerError } from "../../mail/index.js";

/**
 * Greylisting answers 4xx for a minute or more; a user waiting on a chat client should hear back
 * sooner, so we try a few times over ~15 s and then report, with the server's reason.
 */
export const SMTP_RETRY_DELAYS_MS: readonly number[] = [1_000, 4_000, 10_000];
/** Loopback smarthosts answer in milliseconds; a remote one gets generous time per step. */
const SMTP_TIMEOUT_MS = 30_000;

export interface SmtpSender {
  send(input: { envelope: { from: string; to: string[] }; raw: Buffer }): Promise<{ response: string }>;
  close(): void;
}

export function createSmtpSender(options: { url: string; logger: Logger; retryDelaysMs?: readonly number[] }): SmtpSender {
  const transport = nodemailer.createTransport(options.url, {});
  const delays = options.retryDelaysMs ?? SMTP_RETRY_DELAYS_MS;
  Object.assign(transport.options as object, { connectionTimeout: SMTP_TIMEOUT_MS, greetingTimeout: SMTP_TIMEOUT_MS, socketTimeout: SMTP_TIMEOUT_MS });

  function classify(err: NodemailerError): SmtpError {
    const code = err.responseCode;
    if (code !== undefined) {
      return new SmtpError(err.response ?? err.message, { responseCode: code, transient: code >= 400 && code < 500, cause: err });
    }
    const connection = isConnectionFailure(err);
    return new SmtpError(connection ? `cannot reach the mail server (${err.message})` : err.message, { transient: connection, cause: err });
  }

  return {
    async send(input) {
      for (let attempt = 0; ; attempt++) {
        try {
          const info = (await transport.sendMail({ envelope: input.envelope, raw: input.raw })) as { response: string };
          return { response: info.response };
        } catch (err) {
          const failure = classify(err as NodemailerError);
          const delay = delays[attempt];
          if (!failure.transient || delay === undefined) throw failure;
          options.logger.info({ attempt: attempt + 1, retryInMs: delay, response: failure.response }, "SMTP temporary failure; retrying");
          await new Promise((resolve) => setTimeout(resolve, delay));
        }
      }
    },
    close: () => transport.close(),
  };
}
