// Replay target: back into XMPP through the component connection. Each archived stanza is sent
// from the component's domain, wrapped as XEP-0297 §3 <forwarded/> with a XEP-0203 <delay/> that
// carries its original time, to the archive's owner (or --to). After each message an IQ to the
// server acts as a barrier: the server handles one stream's stanzas in order, so a bounce for the
// message (RFC 6120 §8.3: no such user, not allowed) arrives before the IQ's answer, and the outcome
// of every message is known before the next one is counted and checkpointed.
import { randomBytes } from "node:crypto";
import xml, { type Element } from "@xmpp/xml";
import { NS_DELAY, NS_FORWARD } from "../../namespaces.js";
import { ReplayError, type XmppAuthError } from "../../errors.js";
import { bare } from "../../jid.js";
import type { Logger } from "../../log/index.js";
import { parseStanzaXml } from "../../mail/index.js";
import { createConnection, type Connection } from "../../xmpp/connection.js";
import type { Target } from "../types.js";

/** Long enough for the reconnect backoff's first attempts (0.5 s doubling), short for a CLI. */
const CONNECT_TIMEOUT_MS = 30_000;
/** A loaded server answers an IQ in milliseconds; past this the stream is stuck. */
const BARRIER_TIMEOUT_MS = 30_000;
const NS_PING = "urn:xmpp:ping";

export interface XmppTargetOptions {
  readonly host: string;
  readonly port: number;
  /** The component's domain: the sender of every replayed message. */
  readonly domain: string;
  /** The server's domain, asked for the barrier IQ. */
  readonly serverDomain: string;
  readonly secret: string;
  readonly logger: Logger;
  /** Send everything to this JID instead of each archive's owner. */
  readonly to: string | undefined;
  readonly dryRun: boolean;
}

export function createXmppTarget(options: XmppTargetOptions): Target {
  let connection: Connection | undefined;
  let ready: Promise<void> | undefined;
  let fatal: XmppAuthError | undefined;
  const waiting = new Map<string, (stanza: Element) => void>();
  const runId = randomBytes(4).toString("hex");
  let counter = 0;

  const onStanza = (stanza: Element) => {
    const resolve = stanza.attrs.id ? waiting.get(stanza.attrs.id) : undefined;
    if (resolve && (stanza.name === "iq" || stanza.attrs.type === "error")) resolve(stanza);
  };

  function connect(): Promise<void> {
    ready ??= new Promise<void>((resolve, reject) => {
      connection = createConnection({
        host: options.host,
        port: options.port,
        domain: options.domain,
        secret: options.secret,
        logger: options.logger,
        onFatal: (err) => {
          fatal = err;
          reject(err);
        },
      });
      const timer = setTimeout(() => reject(new ReplayError(`could not connect to the XMPP server at ${options.host}:${options.port} within ${CONNECT_TIMEOUT_MS / 1000} s`)), CONNECT_TIMEOUT_MS);
      connection.xmpp.once("online", () => {
        clearTimeout(timer);
        resolve();
      });
      connection.xmpp.on("stanza", onStanza);
      connection.start();
    });
    return ready;
  }

  /** Sends `stanza`, then resolves with the bounce for it, or undefined once the barrier IQ returns. */
  async function sendChecked(stanza: Element, id: string): Promise<Element | undefined> {
    const xmpp = connection!.xmpp;
    const barrierId = `${id}-barrier`;
    let bounce: Element | undefined;
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new ReplayError(`no answer from ${options.serverDomain} within ${BARRIER_TIMEOUT_MS / 1000} s`)), BARRIER_TIMEOUT_MS);
      waiting.set(id, (el) => (bounce = el));
      waiting.set(barrierId, () => {
        clearTimeout(timer);
        resolve();
      });
    });
    try {
      await xmpp.send(stanza);
      await xmpp.send(xml("iq", { type: "get", id: barrierId, from: options.domain, to: options.serverDomain }, xml("ping", { xmlns: NS_PING })));
      await done;
      return bounce;
    } finally {
      waiting.delete(id);
      waiting.delete(barrierId);
    }
  }

  return {
    description: `xmpp:${options.domain}@${options.host}:${options.port}${options.to ? `→${options.to}` : ""}`,
    ordered: true,
    async deliver(record) {
      const to = options.to ?? bare(record.owner);
      if (options.dryRun) return { status: "replayed", where: to };
      if (fatal) throw fatal;
      await connect();
      const id = `replay-${runId}-${++counter}`;
      const stanza = xml(
        "message",
        { from: options.domain, to, id, type: record.type },
        xml("forwarded", { xmlns: NS_FORWARD }, xml("delay", { xmlns: NS_DELAY, stamp: record.time.toISOString() }), parseStanzaXml(record.xml)),
      );
      const bounce = await sendChecked(stanza, id);
      if (bounce) {
        const condition = bounce.getChild("error")?.getChildElements()[0]?.name ?? "unknown";
        throw new ReplayError(`${to} bounced the replayed message (${condition})`, condition);
      }
      return { status: "replayed", where: to };
    },
    async close() {
      if (!connection) return;
      connection.xmpp.removeListener("stanza", onStanza);
      await connection.stop();
    },
  };
}
