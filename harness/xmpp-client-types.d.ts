/**
 * Minimal typings for @xmpp/client 0.13 (CommonJS, ships no .d.ts):
 * only what harness/xmpp-client.ts uses.
 */
declare module "@xmpp/client" {
  /** An ltx element: a stanza or one of its children. */
  export interface Element {
    name: string;
    // Record<string, string>: with noUncheckedIndexedAccess a lookup is
    // still string | undefined, and predicates typed either way fit.
    attrs: Record<string, string>;
    children: Array<Element | string>;
    is(name: string, xmlns?: string): boolean;
    getChild(name: string, xmlns?: string): Element | undefined;
    getChildren(name: string, xmlns?: string): Element[];
    getChildText(name: string, xmlns?: string): string | null;
    getText(): string;
    toString(): string;
  }

  export type XmlChild = Element | string | null | undefined | false;

  export function xml(
    name: string,
    attrs?: Record<string, string | number | undefined> | null,
    ...children: Array<XmlChild | XmlChild[]>
  ): Element;

  export interface Jid {
    toString(): string;
    bare(): Jid;
  }

  export interface ClientOptions {
    service: string;
    domain: string;
    username: string;
    password: string;
    resource?: string;
  }

  export interface Client {
    jid: Jid | null;
    status: string;
    reconnect: { stop(): void };
    start(): Promise<Jid>;
    stop(): Promise<unknown>;
    send(element: Element): Promise<void>;
    /** Writes raw text to the stream. */
    write(data: string): Promise<void>;
    iqCaller: { request(iq: Element, timeout?: number): Promise<Element> };
    on(event: "stanza", listener: (stanza: Element) => void): this;
    on(event: "error", listener: (error: Error) => void): this;
    removeListener(event: "stanza", listener: (stanza: Element) => void): this;
  }

  export function client(options: ClientOptions): Client;
}
