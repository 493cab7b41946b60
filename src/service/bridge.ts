// Mail ↔ XMPP, beside the archive flow (README, "Mail to XMPP and back"):
//   new INBOX mail (watch/) → a normal message to the user while they are online (presence/, notify/)
//   a user's message to alice\40example.net@<component> → SMTP (outbound/)
// It hooks into the archiver's component connection: presence to the component domain, and
// messages to escaped mail addresses, are handled here before the archiver's middleware sees them.
import { randomUUID } from "node:crypto";
import type { Component } from "@xmpp/component";
import type { Element } from "@xmpp/xml";
import type { RunConfig } from "../config/index.js";
import { RefusedError } from "../errors.js";
import type { Logger } from "../log/index.js";
import type { MaildirResolver, MaildirWriter } from "../maildir/index.js";
import { findUid, imapMessageUrl, pushedMessage, summarizeMail } from "../notify/index.js";
import { createOutbound, createSmtpSender, outboundRecipient, type Outbound, type SmtpSender } from "../outbound/index.js";
import { createPresenceTracker } from "../presence/index.js";
import { createMailWatch, type MailWatch, type NewMail } from "../watch/index.js";
import { errorSpecFor, messageErrorReply } from "../xmpp/stanza-error.js";

/**
 * Dovecot's LMTP renames the mail into new/ a moment before it adds the UID to dovecot-uidlist;
 * one short second look gets the exact IMAP URL instead of the Message-ID search.
 */
const UIDLIST_RETRY_MS = 200;
/** The push endpoint is for Dovecot on this host only. */
const PUSH_HOST = "127.0.0.1";

export interface Bridge {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface BridgeOptions {
  readonly config: RunConfig;
  readonly logger: Logger;
  readonly xmpp: Component;
  readonly writer: MaildirWriter;
  /** Undefined without --maildir (over LMTP), which the config allows only with --watch off and no --smtp-url. */
  readonly resolveMaildir: MaildirResolver | undefined;
}

export function createBridge(options: BridgeOptions): Bridge {
  const { config, xmpp, resolveMaildir } = options;
  const settings = config.bridge;
  const logger = options.logger.child({ part: "bridge" });
  const presence = createPresenceTracker({ componentDomain: config.domain, userDomain: config.userDomain });
  let watch: MailWatch | undefined;
  let smtp: SmtpSender | undefined;
  let outbound: Outbound | undefined;
  let stopOnline: (() => void) | undefined;

  async function push(mail: NewMail): Promise<void> {
    const summary = await summarizeMail(mail.bytes);
    let uid = await findUid(mail.maildir, mail.base);
    if (!uid) {
      await new Promise((resolve) => setTimeout(resolve, UIDLIST_RETRY_MS));
      uid = await findUid(mail.maildir, mail.base);
    }
    const url = imapMessageUrl({ server: settings!.imapUrl, user: mail.user, uid, messageId: summary.messageId });
    const { stanza, thread } = pushedMessage({ summary, to: mail.user, componentDomain: config.domain, url, id: randomUUID() });
    await xmpp.send(stanza);
    if (summary.messageId && summary.fromAddress) {
      watch!.state.remember(mail.user, { thread, from: summary.fromAddress, messageId: summary.messageId, references: summary.references, subject: summary.subject });
    }
  }

  async function sendAll(stanzas: Element[]): Promise<void> {
    for (const s of stanzas) await xmpp.send(s).catch((err: Error) => logger.debug({ err: err.message }, "presence not sent"));
  }

  const onOnline = (): void => {
    // Whatever we knew may have changed while we were away; ask again (RFC 6121 §4.3).
    presence.clear();
    void sendAll(presence.probes(watch?.users().filter((u) => u.endsWith(`@${config.userDomain}`)) ?? []));
  };

  // Presence to the component domain, and mail from users; both registered before the archiver's
  // own middleware (it is created after this), so these never reach the archive path.
  xmpp.middleware.use(async ({ stanza }, next) => {
    if (stanza.name === "presence") {
      if (!settings?.trigger) return next();
      await sendAll(presence.handle(stanza));
      return undefined;
    }
    if (stanza.name !== "message") return next();
    const recipient = outboundRecipient(stanza.attrs.to, config.domain);
    if (!recipient) return next();
    // A bounce of a message we pushed: nothing to answer (RFC 6120 §8.3.1).
    if (stanza.attrs.type === "error") return undefined;
    try {
      if (!outbound) throw new RefusedError("sending mail is not enabled on this component (no --smtp-url)", { type: "cancel", condition: "service-unavailable" });
      await outbound.send(stanza, recipient);
    } catch (err) {
      logger.warn({ from: stanza.attrs.from, to: recipient, id: stanza.attrs.id, err: (err as Error).message }, "mail not sent");
      await xmpp.send(messageErrorReply(stanza, errorSpecFor(err))).catch(() => undefined);
    }
    return undefined;
  });

  return {
    async start() {
      if (!settings) return;
      if ((settings.trigger || settings.smtpUrl) && (config.maildir === undefined || resolveMaildir === undefined)) {
        throw new Error("--watch and --smtp-url need --maildir");
      }
      if (settings.trigger) {
        watch = createMailWatch({
          template: config.maildir!,
          stateDir: config.stateDir,
          trigger: settings.trigger,
          pushHost: PUSH_HOST,
          pushPort: settings.pushPort,
          logger,
          isOnline: (user) => presence.isOnline(user),
          push,
        });
        await watch.start();
        stopOnline = presence.onOnline((user) => {
          logger.info({ user }, "user online; new INBOX mail will be pushed");
          const at = user.lastIndexOf("@");
          void watch?.addUser({ local: user.slice(0, at), domain: user.slice(at + 1) });
        });
        xmpp.on("online", onOnline);
      }
      if (settings.smtpUrl) {
        smtp = createSmtpSender({ url: settings.smtpUrl, logger });
        outbound = createOutbound({
          userDomain: config.userDomain,
          resolve: resolveMaildir!,
          writer: options.writer,
          smtp,
          // Without a watch nothing was pushed, so there is nothing to answer: no threading.
          replyContext: (user, match) => watch?.state.replyContext(user, match),
          logger,
        });
      }
    },
    async stop() {
      xmpp.removeListener("online", onOnline);
      stopOnline?.();
      await watch?.stop();
      smtp?.close();
    },
  };
}
