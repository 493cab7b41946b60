/**
 * A test client's side of XEP-0363, as Conversations, Dino and Gajim do it: ask the upload service
 * for a slot (§4), PUT the bytes to the slot's PUT URL with the headers it names (§5), and share
 * the GET URL with a jabber:x:oob element (XEP-0066 §3) and the URL as the body (Conversations).
 */
import { xml, type Element } from "@xmpp/client";
import type { TestClient } from "./xmpp-client.js";

const NS_UPLOAD = "urn:xmpp:http:upload:0";
/** A loopback PUT of a few KiB takes milliseconds; generous for a busy CI box. */
const PUT_TIMEOUT_MS = 10_000;

export interface Slot {
  readonly put: string;
  readonly get: string;
  /** §4: only Authorization, Cookie and Expires may be passed on. */
  readonly headers: Record<string, string>;
}

export async function requestSlot(client: TestClient, service: string, file: { name: string; size: number; type: string }): Promise<Slot> {
  const reply: Element = await client.client.iqCaller.request(
    xml("iq", { type: "get", to: service }, xml("request", { xmlns: NS_UPLOAD, filename: file.name, size: String(file.size), "content-type": file.type })),
  );
  const slot = reply.getChild("slot", NS_UPLOAD);
  const put = slot?.getChild("put")?.attrs.url as string | undefined;
  const get = slot?.getChild("get")?.attrs.url as string | undefined;
  if (!slot || !put || !get) throw new Error(`no slot in ${reply.toString()}`);
  const headers: Record<string, string> = {};
  for (const h of slot.getChild("put")!.getChildren("header")) {
    const name = h.attrs.name as string;
    if (/^(authorization|cookie|expires)$/i.test(name)) headers[name] = h.children.filter((c): c is string => typeof c === "string").join("");
  }
  return { put, get, headers };
}

/** Uploads and returns the GET URL to share. */
export async function uploadFile(client: TestClient, service: string, file: { name: string; type: string; bytes: Buffer }): Promise<string> {
  const slot = await requestSlot(client, service, { name: file.name, size: file.bytes.length, type: file.type });
  const res = await fetch(slot.put, {
    method: "PUT",
    headers: { ...slot.headers, "content-type": file.type, "content-length": String(file.bytes.length) },
    body: file.bytes,
    signal: AbortSignal.timeout(PUT_TIMEOUT_MS),
  });
  if (res.status !== 200 && res.status !== 201) throw new Error(`PUT ${slot.put} answered ${res.status}: ${await res.text()}`);
  return slot.get;
}

/** Shares a URL the way Conversations does: the body is the URL, and an OOB element carries it. */
export function shareUrl(client: TestClient, to: string, url: string, id?: string): Promise<string> {
  return client.sendMessage({ to, type: "chat", body: url, extra: xml("x", { xmlns: "jabber:x:oob" }, xml("url", {}, url)), ...(id ? { id } : {}) });
}
