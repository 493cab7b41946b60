// Mail ↔ XMPP, beside the archive flow (README, "Mail to XMPP and back"):
//   new INBOX mail (watch/) → a normal message to the user while they are online (presence/, notify/)
//   a user's message to alice\40example.net@<component> → SMTP (outbound/)
// Its middleware takes presence to the component domain and messages to escaped mail addresses;
// src/app.ts registers it before the archive handler's, so these never reach the archive path.
import type { Middleware } from "@xmpp/component";
import type { Element } from "@xmpp/xml";
import { ConfigError, RefusedError } from "../errors.js";
import type { Logger } from "../log/index.js";
import type { MaildirResolver, MaildirWriter } from "../maildir/index.js";
import { errorSpecFor, messageErrorReply } from "../xmpp/stanza-error.js";
import type { Fetcher } from "../fetch/index.js";
import { createUploader, type IqRequest } from "./attachments/index.js";
import { createNotifier } from "./notify/index.js";
import { createOutbound, createSmtpSender, LimitError, openSendCounter, outboundRecipient, type Outbound, type SendLimits, type SmtpSender } from "./outbound/index.js";
import { discoInfo } from "./disco.js";
import { createPresenceTracker } from "./presence/index.js";
import { createReactions, NS_REACTIONS, openSentLinks, type ReactionMailer, type Reactions, type SentLinks } from "./reactions/index.js";
import { createReadMarkers, type ReadMarkers } from "./read-markers.js";
import { openBridgeState, type BridgeState } from "./state.js";
import { createMailWatch, type MailWatch, type Trigger } from "./watch/index.js";

/** The push endpoint is for Dovecot on this host only. */
const PUSH_HOST = "127.0.0.1";

/** What the bridge does; all off unless --watch or --smtp-url is set. */
export interface BridgeSettings {
  /** --watch: undefined when off. */
  readonly trigger: Trigger | undefined;
  /** --push-port, on 127.0.0.1. */
  readonly pushPort: number;
  /** --imap-url: server part of the RFC 5092 links, no trailing slash. */
  readonly imapUrl: string;
  /** --smtp-url: undefined means sending mail from XMPP is refused. Holds a password: never log it. */
  readonly smtpUrl: string | undefined;
  /** --smtp-max-per-minute and --smtp-max-per-day, per user. */
  readonly smtpLimits: SendLimits;
  /** --upload-service: where pushed mail's attachments go (undefined: found by disco#items). */
  readonly uploadService: string | undefined;
  /** --max-upload-bytes: the largest attachment shared either way. */
  readonly maxUploadBytes: number;
}

export interface Bridge {
  /** Presence to the component and mail to send; everything else goes on to `next`. */
  readonly middleware: Middleware;
  /** XEP-0030 disco#info queries to the component and its JIDs: the result's <query/>. */
  discoInfo(query: Element): Element;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface BridgeOptions {
  readonly settings: BridgeSettings;
  readonly componentDomain: string;
  readonly userDomain: string;
  /** Holds the bridge state file (./state.ts). */
  readonly stateDir: string;
  /** --maildir: the template and its resolver. Undefined over LMTP without --maildir. */
  readonly maildir: { readonly template: string; readonly resolve: MaildirResolver } | undefined;
  readonly writer: MaildirWriter;
  readonly logger: Logger;
  /** --max-stanza-bytes, for messages to send as mail too. */
  readonly maxStanzaBytes: number;
  /** Counts mails refused by a send limit (label: which limit). */
  readonly onLimited?: (limit: "per-minute" | "per-day") => void;
  readonly send: (stanza: Element) => Promise<void>;
  /** Sends an IQ from the component and resolves with the result (XEP-0363 slots, disco). */
  readonly iq?: IqRequest;
  /** --upload-origins' fetcher: files shared in a reply are fetched with it and attached. */
  readonly fetcher?: Fetcher | undefined;
  /** Subscribes to the connection coming up; returns the unsubscribe. */
  readonly onConnected: (listener: () => void) => () => void;
}

export function createBridge(options: BridgeOptions): Bridge {
  const { settings, componentDomain, userDomain, send } = options;
  const logger = options.logger.child({ part: "bridge" });
  const presence = createPresenceTracker({ componentDomain, userDomain });
  let state: BridgeState | undefined;
  let watch: MailWatch | undefined;
  let smtp: SmtpSender | undefined;
  let outbound: Outbound | undefined;
  let markers: ReadMarkers | undefined;
  let sent: SentLinks | undefined;
  let reactions: Reactions | undefined;
  let mailer: ReactionMailer | undefined;
  const undo: Array<() => void> = [];

  async function openReactions(stateDir: string): Promise<Reactions> {
    sent = await openSentLinks(stateDir, { onError: (err) => logger.error({ err: err.message }, "cannot save the sent-message links; reactions to them may not be matched after a restart") });
    return createReactions({ componentDomain, userDomain, pushed: state?.pushed, sent, send, logger });
  }

  async function sendAll(stanzas: Element[]): Promise<void> {
    for (const s of stanzas) await send(s).catch((err: Error) => logger.debug({ err: err.message }, "presence not sent"));
  }

  const onConnected = (): void => {
    // Whatever we knew may have changed while we were away; ask again (RFC 6121 §4.3).
    presence.clear();
    void sendAll(presence.probes(watch?.users().filter((u) => u.endsWith(`@${userDomain}`)) ?? []));
  };

  const middleware: Middleware = async ({ stanza }, next) => {
    if (stanza.name === "presence") {
      if (!settings.trigger) return next();
      await sendAll(presence.handle(stanza));
      return undefined;
    }
    if (stanza.name !== "message") return next();
    const recipient = outboundRecipient(stanza.attrs.to, componentDomain);
    if (!recipient) return next();
    // A bounce of a message we pushed: nothing to answer (RFC 6120 §8.3.1).
    if (stanza.attrs.type === "error") return undefined;
    await markers?.handle(stanza);
    // A XEP-0444 reaction goes as an RFC 9078 reaction mail (./reactions/), fallback body or not.
    const reaction = stanza.getChild("reactions", NS_REACTIONS) !== undefined;
    // A marker, receipt or chat state alone: nothing to mail, and no error to bother the user with.
    if (!stanza.getChildText("body") && !reaction) return undefined;
    try {
      if (reaction) {
        if (!reactions) throw new RefusedError("sending mail is not enabled on this component (no --smtp-url)", { type: "cancel", condition: "service-unavailable" });
        await reactions.fromStanza(stanza, recipient, mailer);
        return undefined;
      }
      if (!outbound) throw new RefusedError("sending mail is not enabled on this component (no --smtp-url)", { type: "cancel", condition: "service-unavailable" });
      await outbound.send(stanza, recipient);
    } catch (err) {
      if (err instanceof LimitError) options.onLimited?.(err.limit);
      logger.warn({ from: stanza.attrs.from, to: recipient, id: stanza.attrs.id, err: (err as Error).message }, "mail not sent");
      await send(messageErrorReply(stanza, errorSpecFor(err))).catch(() => undefined);
    }
    return undefined;
  };

  /** The loader refuses --watch and --smtp-url without --maildir; this keeps a hand-built config honest. */
  function needMaildir(key: string) {
    if (!options.maildir) throw new ConfigError(key, "needs --maildir");
    return options.maildir;
  }

  return {
    middleware,
    discoInfo: (query) => discoInfo(query, { markers: settings.trigger !== undefined, reactions: settings.smtpUrl !== undefined }),
    async start() {
      if (settings.trigger) {
        const maildir = needMaildir("watch");
        state = await openBridgeState(options.stateDir, {
          onError: (err) => logger.error({ err: err.message }, "cannot save the push state; mail may be pushed again after a restart"),
        });
        const { threads, pushed } = state;
        markers = createReadMarkers({ userDomain, resolve: maildir.resolve, pushed, logger });
        const r = (reactions = await openReactions(options.stateDir));
        const notify = createNotifier({
          componentDomain, imapUrl: settings.imapUrl, threads, pushed, send,
          uploader: options.iq && createUploader({ iq: options.iq, from: componentDomain, userDomain, service: settings.uploadService, maxBytes: settings.maxUploadBytes, logger }),
        });
        watch = createMailWatch({
          template: maildir.template,
          handled: state.handled,
          trigger: settings.trigger,
          pushHost: PUSH_HOST,
          pushPort: settings.pushPort,
          logger,
          isOnline: (user) => presence.isOnline(user),
          // An RFC 9078 reaction mail is pushed as a XEP-0444 reaction, not as a message.
          push: async (mail) => {
            if (!(await r.fromMail(mail))) await notify(mail);
          },
        });
        await watch.start();
        const w = watch;
        undo.push(
          presence.onOnline((user) => {
            logger.info({ user }, "user online; new INBOX mail will be pushed");
            const at = user.lastIndexOf("@");
            void w.addUser({ local: user.slice(0, at), domain: user.slice(at + 1) });
          }),
          options.onConnected(onConnected),
        );
      }
      if (settings.smtpUrl) {
        const maildir = needMaildir("smtp-url");
        smtp = createSmtpSender({ url: settings.smtpUrl, logger });
        // Without a watch nothing was pushed, so there is nothing to answer: no threading.
        const threads = state?.threads;
        reactions ??= await openReactions(options.stateDir);
        const counter = await openSendCounter(options.stateDir, settings.smtpLimits);
        mailer = { resolve: maildir.resolve, writer: options.writer, smtp, counter, replyContext: (user, match) => threads?.replyContext(user, match) };
        const links = sent;
        outbound = createOutbound({
          userDomain,
          resolve: maildir.resolve,
          writer: options.writer,
          smtp,
          counter,
          maxStanzaBytes: options.maxStanzaBytes,
          fetcher: options.fetcher,
          replyContext: (user, match) => threads?.replyContext(user, match),
          remember: (user, context) => threads?.remember(user, context),
          onSent: (user, link) => links?.remember(user, link),
          logger,
        });
      }
    },
    async stop() {
      for (const off of undo.splice(0)) off();
      await watch?.stop();
      await state?.flush();
      await sent?.flush();
      smtp?.close();
    },
  };
}
