// A minimal XEP-0114 server on 127.0.0.1, port 0, for in-process tests of the component's
// protocol handling: it speaks the stream header and handshake of XEP-0114 §3 and then lets the
// test send stanzas and wait for the component's answers. Not a stand-in for Prosody: the
// integration tests run the real one.
import { createHash, randomBytes } from "node:crypto";
import net from "node:net";
import xml, { type Element } from "@xmpp/xml";

export interface FakeServer {
  readonly port: number;
  /** Resolves once a component has completed the handshake `count` times in all (default 1). */
  connected(count?: number): Promise<void>;
  /** Handshakes completed so far. */
  readonly connections: number;
  send(stanza: string): void;
  /** Sends and waits for the socket to drain when its buffer is full, as a real server would. */
  sendDrained(stanza: string): Promise<void>;
  /** Drops a received element, so long runs do not keep every reply. */
  forget(el: Element): void;
  /** Hands every element to `listener` instead of keeping it (benchmarks); undefined restores keeping. */
  onElement(listener: ((el: Element) => void) | undefined): void;
  waitFor(pred: (el: Element) => boolean, timeoutMs?: number): Promise<Element>;
  readonly received: Element[];
  /** Cuts the component's connection, as a server restart would; the listener stays open. */
  dropConnection(): void;
  close(): Promise<void>;
}

const WAIT_TIMEOUT_MS = 10_000;

export interface FakeServerOptions {
  readonly domain: string;
  readonly secret: string;
  /** Default 0: any free port. */
  readonly port?: number;
}

export async function startFakeServer(options: FakeServerOptions): Promise<FakeServer> {
  const received: Element[] = [];
  const waiters = new Set<() => void>();
  let socket: net.Socket | undefined;
  let listener: ((el: Element) => void) | undefined;
  let connections = 0;
  let connectionWaiters: Array<() => void> = [];

  const server = net.createServer((s) => {
    socket = s;
    const streamId = randomBytes(8).toString("hex");
    const parser = new xml.Parser();
    parser.on("start", () => {
      s.write(`<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' from='${options.domain}' id='${streamId}'>`);
    });
    parser.on("element", (el: Element) => {
      if (el.name === "handshake") {
        const expected = createHash("sha1").update(streamId + options.secret).digest("hex");
        if (el.text() === expected) {
          s.write("<handshake/>");
          connections += 1;
          for (const wake of connectionWaiters) wake();
        } else {
          s.end("<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>");
        }
        return;
      }
      if (listener) return listener(el);
      received.push(el);
      for (const wake of waiters) wake();
    });
    parser.on("end", () => s.end("</stream:stream>"));
    s.setEncoding("utf8").on("data", (d: string) => parser.write(d));
    s.on("error", () => undefined);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    received,
    get connections() {
      return connections;
    },
    connected(count = 1) {
      return new Promise<void>((resolve) => {
        const check = () => {
          if (connections < count) return;
          connectionWaiters = connectionWaiters.filter((w) => w !== check);
          resolve();
        };
        connectionWaiters.push(check);
        check();
      });
    },
    send(stanza) {
      if (!socket) throw new Error("no component connected");
      socket.write(stanza);
    },
    async sendDrained(stanza) {
      if (!socket) throw new Error("no component connected");
      if (!socket.write(stanza)) await new Promise((resolve) => socket!.once("drain", resolve));
    },
    onElement(fn) {
      listener = fn;
    },
    forget(el) {
      const i = received.indexOf(el);
      if (i !== -1) received.splice(i, 1);
    },
    waitFor(pred, timeoutMs = WAIT_TIMEOUT_MS) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = received.find(pred);
          if (!found) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out; received: ${received.map(String).join("\n")}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    dropConnection() {
      socket?.destroy();
      socket = undefined;
    },
    async close() {
      socket?.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
