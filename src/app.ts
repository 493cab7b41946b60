// The composition root: builds the connection, the delivery sink, the archive handler and the
// mail bridge from a validated RunConfig, and wires them in one written order (as xmpp.js's
// component/index.js composes its plugins). Nothing else constructs these or decides between
// Maildir and LMTP delivery.
import xml, { type Element } from "@xmpp/xml";
import { createArchiveHandler } from "./archive/index.js";
import { createBridge } from "./bridge/index.js";
import { deliversToMaildir, type RunConfig } from "./config/index.js";
import { createLmtpClient, createLmtpSink, createMaildirSink, describeTarget, type Sink } from "./delivery/index.js";
import type { XmppAuthError } from "./errors.js";
import type { Logger } from "./log/index.js";
import { compileTemplate, createMaildirWriter, type MaildirWriter } from "./maildir/index.js";
import { noMetrics, type Metrics } from "./metrics/index.js";
import { NS_COPY, NS_COPY_BATCH, NS_DISCO_INFO } from "./namespaces.js";
import { createConnection } from "./xmpp/index.js";
import { createFetcher, type Fetcher } from "./fetch/index.js";

/** XEP-0363 uploads come from the user's own server; 10 s is ample on any working link, and keeps a copy's confirmation well inside the server module's 30 s confirm timeout. */
const UPLOAD_TIMEOUT_MS = 10_000;
/** disco and XEP-0363 slot requests to the users' own server: it answers in milliseconds. */
const IQ_TIMEOUT_MS = 10_000;

export interface App {
  /** Opens the dedupe journal (a StorageError if it cannot), starts the bridge, connects. */
  start(): Promise<void>;
  /** Stops taking stanzas, waits for writes in flight, closes the stream and the sink. */
  stop(): Promise<void>;
}

export interface AppOptions {
  readonly config: RunConfig;
  readonly logger: Logger;
  readonly onFatal: (err: XmppAuthError) => void;
  /** The Maildir writer (tests pass a slow or counting one). */
  readonly writer?: MaildirWriter;
  /** Counters and gauges (src/metrics); none by default. */
  readonly metrics?: Metrics;
}

export function createApp(options: AppOptions): App {
  const { config, logger } = options;
  const metrics = options.metrics ?? noMetrics;
  const writer = options.writer ?? createMaildirWriter();
  const maildir = config.maildir === undefined ? undefined : { template: config.maildir, resolve: compileTemplate(config.maildir) };
  const mail = { domain: config.domain, chat: config.chat };

  // Delivery, chosen once: Maildir files we write, or an LMTP server (README, "Delivery over LMTP").
  let sink: Sink;
  let lmtpNotice: string | undefined;
  if (deliversToMaildir(config)) {
    sink = createMaildirSink({ resolveMaildir: maildir?.resolve ?? compileTemplate(config.maildir), writer, logger, mail });
  } else {
    const client = createLmtpClient({ target: config.delivery.target, logger, name: config.domain });
    sink = createLmtpSink({ client, logger, mail });
    lmtpNotice = describeTarget(config.delivery.target);
  }

  const connection = createConnection({
    host: config.xmppHost,
    port: config.xmppPort,
    domain: config.domain,
    secret: config.secret,
    logger,
    onFatal: options.onFatal,
    metrics,
  });
  const { xmpp } = connection;
  const send = (stanza: Element) => xmpp.send(stanza);
  const uploads: Fetcher | undefined = config.uploads ? createFetcher({ origins: config.uploads.origins, maxBytes: config.uploads.maxBytes, timeoutMs: UPLOAD_TIMEOUT_MS }) : undefined;
  const archive = createArchiveHandler({
    settings: { domain: config.domain, userDomain: config.userDomain, maxStanzaBytes: config.maxStanzaBytes, chat: config.chat, encrypted: config.encrypted, stateDir: config.stateDir },
    sink,
    logger,
    metrics,
    send,
    ...(uploads ? { uploads } : {}),
  });
  const bridge = createBridge({
    settings: config.bridge,
    componentDomain: config.domain,
    userDomain: config.userDomain,
    stateDir: config.stateDir,
    maildir,
    writer,
    logger,
    maxStanzaBytes: config.maxStanzaBytes,
    onLimited: (limit) => metrics.mailLimited(limit),
    send,
    iq: (stanza) => xmpp.iqCaller.request(stanza, IQ_TIMEOUT_MS),
    fetcher: uploads,
    onConnected: (listener) => {
      xmpp.on("online", listener);
      return () => xmpp.removeListener("online", listener);
    },
  });

  // The order stanzas meet the handlers, written down once:
  //   1. the bridge: presence to the component, and messages to escaped mail addresses (SMTP);
  //   2. the archive: every other message to user@<component domain>;
  //   and IQs by namespace: a copy from the server module (v0), a batch of them (v1); disco#info
  //   (the bridge's features, and the copy protocol's versions).
  xmpp.middleware.use(bridge.middleware);
  xmpp.middleware.use(archive.direct);
  xmpp.iqCallee.set(NS_COPY, "copy", archive.copy);
  xmpp.iqCallee.set(NS_COPY_BATCH, "copies", archive.copies);
  xmpp.iqCallee.get(NS_DISCO_INFO, "query", (ctx) => {
    const info = bridge.discoInfo(ctx.element ?? ctx.stanza);
    // The copy protocol's versions, on the component's own domain: the server modules ask before
    // they send batches (docs/protocol.md, "Negotiation").
    if (info.is("query") && ctx.stanza.attrs.to === config.domain) for (const v of [NS_COPY, NS_COPY_BATCH]) info.append(xml("feature", { var: v }));
    return info;
  });

  return {
    async start() {
      await archive.open();
      if (lmtpNotice !== undefined) {
        // Said once, so an admin reading the log knows what LMTP mode cannot do (README, "Delivery over LMTP").
        logger.info(
          { deliver: lmtpNotice },
          "delivering over LMTP: folders as recipient detail (user+Chats@domain; Dovecot needs lmtp_save_to_detail_mailbox = yes and lda_mailbox_autocreate = yes, else all goes to INBOX); flags (\\Seen, keywords) and receipts are not applied",
        );
      }
      await bridge.start();
      connection.start();
    },
    async stop() {
      await archive.drain();
      await bridge.stop();
      await connection.stop();
      await sink.close();
      await archive.close();
    },
  };
}
