// Minimal declarations for the parts of xmpp.js 0.13 (which ships no types) that we use.
// Kept to what src/ calls, so a wrong call fails to compile instead of failing at run time.
declare module "@xmpp/xml" {
  export interface Element {
    name: string;
    attrs: Record<string, string | undefined>;
    children: Array<Element | string>;
    parent: Element | null;
    is(name: string, xmlns?: string): boolean;
    getNS(): string | undefined;
    getChild(name: string, xmlns?: string): Element | undefined;
    getChildren(name: string, xmlns?: string): Element[];
    getChildElements(): Element[];
    getChildText(name: string, xmlns?: string): string | null;
    getText(): string;
    text(): string;
    append(...nodes: Array<Element | string>): Element;
    toString(): string;
  }
  type Child = Element | string | null | undefined | false;
  interface XmlFactory {
    (name: string, attrs?: Record<string, string | number | undefined> | null, ...children: Array<Child | Child[]>): Element;
    Element: new (name: string, attrs?: Record<string, string | undefined>) => Element;
    Parser: new () => NodeJS.EventEmitter & { write(data: string): void; end(data?: string): void };
    escapeXML(s: string): string;
    escapeXMLText(s: string): string;
  }
  const xml: XmlFactory;
  export default xml;
}

declare module "@xmpp/component" {
  import type { Element } from "@xmpp/xml";
  import type { EventEmitter } from "node:events";

  export interface MiddlewareContext {
    stanza: Element;
    name: string;
    type: string;
    id: string;
    element?: Element;
  }
  export type Middleware = (ctx: MiddlewareContext, next: () => Promise<unknown>) => unknown;

  export interface Component extends EventEmitter {
    status: string;
    jid: { toString(): string } | null;
    options: { service: string; domain: string };
    timeout: number;
    start(): Promise<unknown>;
    stop(): Promise<unknown>;
    send(element: Element): Promise<void>;
    reconnect: EventEmitter & { delay: number; start(): void; stop(): void };
    middleware: { use(fn: Middleware): Middleware; filter(fn: Middleware): Middleware };
    /** @xmpp/iq caller: request() resolves with the result IQ, rejects with a StanzaError or a TimeoutError. */
    iqCaller: { request(stanza: Element, timeout?: number): Promise<Element> };
    iqCallee: {
      set(ns: string, name: string, handler: (ctx: MiddlewareContext) => Promise<Element | boolean> | Element | boolean): void;
      get(ns: string, name: string, handler: (ctx: MiddlewareContext) => Promise<Element | boolean> | Element | boolean): void;
    };
  }
  export function component(options: {
    service: string;
    domain: string;
    password: string | ((auth: (password: string) => Promise<void>) => Promise<void>);
  }): Component;
}
