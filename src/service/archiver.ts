// Wires the one-way flow: xmpp → capture → mail → maildir → confirmation (or a stanza error).
import type { Element } from "@xmpp/xml";
import { captureCopy, captureDirect, NS_COPY, type CaptureContext, type CaptureResult } from "../capture/index.js";
import type { RunConfig } from "../config/index.js";
import { RefusedError, StorageError, type XmppAuthError } from "../errors.js";
import { bare } from "../jid.js";
import type { Logger } from "../log/index.js";
import { renderMail } from "../mail/index.js";
import { compileTemplate, createMaildirWriter, type MaildirWriter } from "../maildir/index.js";
import { createConnection } from "../xmpp/connection.js";
import { errorElement, errorSpecFor, messageErrorReply } from "../xmpp/stanza-error.js";

export interface Archiver {
  start(): void;
  /** Stops taking stanzas, waits for writes in flight, closes the stream. */
  stop(): Promise<void>;
}

export interface ArchiverOptions {
  readonly config: RunConfig;
  readonly logger: Logger;
  readonly onFatal: (err: XmppAuthError) => void;
  readonly writer?: MaildirWriter;
}

export function createArchiver(options: ArchiverOptions): Archiver {
  const { config, logger } = options;
  const resolveMaildir = compileTemplate(config.maildir);
  const writer = options.writer ?? createMaildirWriter();
  const connection = createConnection({
    host: config.xmppHost,
    port: config.xmppPort,
    domain: config.domain,
    secret: config.secret,
    logger,
    onFatal: options.onFatal,
  });
  const { xmpp } = connection;
  const inFlight = new Set<Promise<unknown>>();
  let accepting = true;

  const context = (): CaptureContext => ({ componentDomain: config.domain, userDomain: config.userDomain, now: new Date() });

  /** Runs capture and stores what it returns. Throws typed errors only. */
  async function archive(stanza: Element, capture: (ctx: CaptureContext) => CaptureResult): Promise<void> {
    const started = performance.now();
    const result = capture(context());
    if (result.kind === "skip") {
      logger.debug({ from: stanza.attrs.from, to: stanza.attrs.to, reason: result.reason }, "not archived");
      return;
    }
    const { record } = result;
    const maildir = resolveMaildir(record.owner);
    const mail = await renderMail(record, { domain: config.domain });
    const delivered = await writer.deliver(maildir, mail.bytes);
    logger.info(
      {
        user: bare(record.owner),
        folder: "INBOX",
        messageId: mail.messageId,
        bytes: delivered.size,
        ms: Math.round((performance.now() - started) * 10) / 10,
        reason: record.reason,
      },
      "stored",
    );
  }

  function report(stanza: Element, err: unknown): void {
    const fields = { from: stanza.attrs.from, to: stanza.attrs.to, id: stanza.attrs.id };
    if (err instanceof RefusedError) {
      logger.warn({ ...fields, code: err.code, condition: err.stanzaError.condition, reason: err.message }, "refused");
    } else if (err instanceof StorageError) {
      logger.error({ ...fields, code: err.code, path: err.path, reason: err.reason }, "cannot store message");
    } else {
      logger.error({ ...fields, err }, "unexpected error while archiving");
    }
  }

  /** Tracks work so stop() can wait for it: a confirmed copy must be on disk before we exit. */
  function track<T>(work: Promise<T>): Promise<T> {
    inFlight.add(work);
    work.finally(() => inFlight.delete(work)).catch(() => undefined);
    return work;
  }

  // Copies from the server module: the IQ result is the confirmation that the copy is in new/.
  xmpp.iqCallee.set(NS_COPY, "copy", async ({ stanza }) => {
    if (!accepting) return errorElement({ type: "wait", condition: "resource-constraint", text: "shutting down" });
    try {
      await track(archive(stanza, (ctx) => captureCopy(stanza, ctx)));
      return true;
    } catch (err) {
      report(stanza, err);
      return errorElement(errorSpecFor(err));
    }
  });

  // Messages to user@<component domain>.
  xmpp.middleware.use(async ({ stanza }, next) => {
    if (stanza.name !== "message") return next();
    try {
      if (!accepting) throw new RefusedError("shutting down", { type: "wait", condition: "resource-constraint" });
      await track(archive(stanza, (ctx) => captureDirect(stanza, ctx)));
    } catch (err) {
      report(stanza, err);
      await xmpp.send(messageErrorReply(stanza, errorSpecFor(err))).catch(() => undefined);
    }
    return undefined;
  });

  return {
    start() {
      accepting = true;
      connection.start();
    },
    async stop() {
      accepting = false;
      await Promise.allSettled([...inFlight]);
      await connection.stop();
    },
  };
}
