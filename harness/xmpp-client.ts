/**
 * A test XMPP user: logs in over plain c2s, goes online, records every
 * stanza it receives and lets a test wait for one.
 */
import { randomUUID } from "node:crypto";
import { client as createClient, xml, type Client, type Element } from "@xmpp/client";

/** Login plus initial presence takes ~50 ms on loopback; generous for CI. */
const CONNECT_TIMEOUT_MS = 10_000;
/** A stanza on loopback arrives in milliseconds; long enough for a busy server. */
const DEFAULT_STANZA_TIMEOUT_MS = 5_000;

export type { Element };

export interface ConnectClientOptions {
  port: number;
  domain: string;
  username: string;
  password: string;
  resource?: string;
  /** Send initial presence and wait for the server's echo. Default true. */
  sendPresence?: boolean;
  /** Keep xmpp.js's automatic reconnect. Default false: tests decide when to reconnect. */
  reconnect?: boolean;
}

export interface SendMessageOptions {
  to: string;
  /** Default "chat". */
  type?: string;
  body?: string;
  subject?: string;
  /** Default: a random UUID. */
  id?: string;
  /**
   * Extra children, e.g. a thread or an XEP-0334 hint. A string is raw XML
   * sent verbatim (for stanzas a test wants byte-exact, even malformed).
   */
  extra?: Element | string | Array<Element | string>;
}

export interface TestClient {
  /** Full JID bound by the server. */
  jid: string;
  client: Client;
  send(el: Element): Promise<void>;
  /** Sends a <message> and returns its id. */
  sendMessage(opts: SendMessageOptions): Promise<string>;
  /** Every stanza received since login, oldest first. */
  received: Element[];
  /** Errors xmpp.js emitted (kept, not thrown). */
  errors: Error[];
  /**
   * The first received stanza matching `pred`, including ones that arrived
   * before the call, so there is no race between sending and waiting.
   */
  waitForStanza(pred: (stanza: Element) => boolean, timeoutMs?: number): Promise<Element>;
  stop(): Promise<void>;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what()}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Stands in for raw XML until serialisation; no real stanza has it. */
const RAW_PLACEHOLDER = "harness-raw-xml-placeholder";

function buildMessage(m: SendMessageOptions, id: string): { stanza: Element; raw: string[] } {
  const extra = m.extra === undefined ? [] : Array.isArray(m.extra) ? m.extra : [m.extra];
  const stanza = xml(
    "message",
    { to: m.to, type: m.type ?? "chat", id },
    m.subject === undefined ? null : xml("subject", {}, m.subject),
    m.body === undefined ? null : xml("body", {}, m.body),
    ...extra.map((e) => (typeof e === "string" ? xml(RAW_PLACEHOLDER) : e)),
  );
  return { stanza, raw: extra.filter((e): e is string => typeof e === "string") };
}

/**
 * Element children go through xmpp.js as usual; raw strings are spliced
 * into the serialised stanza at their position and written as they are.
 */
async function sendMessageStanza(xmpp: Client, m: SendMessageOptions, id: string): Promise<void> {
  const { stanza, raw } = buildMessage(m, id);
  if (raw.length === 0) {
    await xmpp.send(stanza);
    return;
  }
  let i = 0;
  await xmpp.write(stanza.toString().replaceAll(`<${RAW_PLACEHOLDER}/>`, () => raw[i++] ?? ""));
}

function summarize(stanzas: Element[]): string {
  if (stanzas.length === 0) return "nothing";
  return stanzas.map((s) => s.toString().slice(0, 200)).join("\n  ");
}

export async function connectClient(opts: ConnectClientOptions): Promise<TestClient> {
  const xmpp = createClient({
    service: `xmpp://127.0.0.1:${opts.port}`,
    domain: opts.domain,
    username: opts.username,
    password: opts.password,
    ...(opts.resource === undefined ? {} : { resource: opts.resource }),
  });
  if (opts.reconnect !== true) xmpp.reconnect.stop();

  const received: Element[] = [];
  const errors: Error[] = [];
  const waiters = new Set<() => void>();
  // xmpp.js throws unhandled 'error' events; tests look at `errors` instead.
  const onError = (err: Error) => {
    errors.push(err);
  };
  const onStanza = (stanza: Element) => {
    received.push(stanza);
    for (const wake of waiters) wake();
  };
  xmpp.on("error", onError);
  xmpp.on("stanza", onStanza);

  const waitForStanza = async (pred: (s: Element) => boolean, timeoutMs = DEFAULT_STANZA_TIMEOUT_MS) => {
    const found = received.find(pred);
    if (found) return found;
    let wake: (() => void) | undefined;
    const match = new Promise<Element>((resolve, reject) => {
      // Runs inside the 'stanza' listener, which must never throw.
      wake = () => {
        try {
          const hit = received.find(pred);
          if (hit) resolve(hit);
        } catch (err) {
          reject(err as Error);
        }
      };
      waiters.add(wake);
    });
    try {
      return await withTimeout(match, timeoutMs, () => `no matching stanza for ${opts.username}; received:\n  ${summarize(received)}`);
    } finally {
      if (wake) waiters.delete(wake);
    }
  };

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      await xmpp.stop();
    } catch {
      // Already disconnected (e.g. the server stopped first).
    }
    xmpp.removeListener("stanza", onStanza);
    // onError stays: a socket error that surfaces after stop() would
    // otherwise be an unhandled 'error' event and crash the test run.
  };

  try {
    const jid = (
      await withTimeout(xmpp.start(), CONNECT_TIMEOUT_MS, () => `${opts.username}@${opts.domain} login (errors: ${errors.join("; ")})`)
    ).toString();
    if (opts.sendPresence !== false) {
      // RFC 6121 §4.2.2: the server sends initial presence back to the
      // sending resource too; once it arrives, Prosody routes live messages
      // to us (priority >= 0) instead of offline storage.
      await xmpp.send(xml("presence", {}, xml("priority", {}, "0")));
      await waitForStanza((s) => s.is("presence") && s.attrs.from === jid && s.attrs.type === undefined, CONNECT_TIMEOUT_MS);
    }
    return {
      jid,
      client: xmpp,
      send: (el) => xmpp.send(el),
      sendMessage: async (m) => {
        const id = m.id ?? randomUUID();
        await sendMessageStanza(xmpp, m, id);
        return id;
      },
      received,
      errors,
      waitForStanza,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
