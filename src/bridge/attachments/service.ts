// Which XEP-0363 upload service the component uploads mail attachments to: --upload-service, or
// the one the users' own server offers, found as XEP-0363 §3 says: disco#items on the server's
// domain, then disco#info on each item for the urn:xmpp:http:upload:0 feature, with the service's
// max-file-size from its XEP-0128 form.
import xml, { type Element } from "@xmpp/xml";
import { NS_DISCO_INFO } from "../../namespaces.js";

export const NS_UPLOAD = "urn:xmpp:http:upload:0";
const NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items";
const NS_DATA = "jabber:x:data";
/** A server with many components answers in milliseconds; one that does not answer is not waited for. */
export const IQ_TIMEOUT_MS = 10_000;
/** After finding no service, ask again only after this: an admin may add one without restarting us. */
const RETRY_DISCOVERY_MS = 5 * 60_000;

/** Sends an IQ (from the component) and resolves with the result, or rejects with its error. */
export type IqRequest = (iq: Element) => Promise<Element>;

export interface UploadService {
  readonly jid: string;
  /** The service's own limit (max-file-size), when it gives one. */
  readonly maxFileSize: number | undefined;
}

export interface ServiceFinder {
  /** The service, or a sentence saying why there is none. */
  find(): Promise<UploadService | { readonly missing: string }>;
}

export function createServiceFinder(options: { iq: IqRequest; from: string; userDomain: string; service: string | undefined }): ServiceFinder {
  const { iq, from } = options;
  let found: UploadService | undefined;
  let missingSince = -Infinity;
  let missing = "";

  async function info(jid: string): Promise<UploadService | undefined> {
    const reply = await iq(xml("iq", { type: "get", from, to: jid }, xml("query", { xmlns: NS_DISCO_INFO })));
    const query = reply.getChild("query", NS_DISCO_INFO);
    if (!query?.getChildren("feature").some((f) => f.attrs.var === NS_UPLOAD)) return undefined;
    return { jid, maxFileSize: maxFileSize(query) };
  }

  return {
    async find() {
      if (found) return found;
      if (performance.now() - missingSince < RETRY_DISCOVERY_MS) return { missing };
      try {
        if (options.service) {
          found = await info(options.service);
          if (!found) throw new Error(`${options.service} (--upload-service) does not offer ${NS_UPLOAD}`);
          return found;
        }
        const reply = await iq(xml("iq", { type: "get", from, to: options.userDomain }, xml("query", { xmlns: NS_DISCO_ITEMS })));
        const items = reply.getChild("query", NS_DISCO_ITEMS)?.getChildren("item") ?? [];
        for (const item of items) {
          const jid = item.attrs.jid as string | undefined;
          if (!jid || item.attrs.node) continue;
          // One service that does not answer must not hide the next.
          found = await info(jid).catch(() => undefined);
          if (found) return found;
        }
        throw new Error(`no item of ${options.userDomain} offers ${NS_UPLOAD}; set --upload-service`);
      } catch (err) {
        missingSince = performance.now();
        missing = `no upload service: ${(err as Error).message}`;
        return { missing };
      }
    },
  };
}

/** XEP-0363 §3: <x type='result'> with FORM_TYPE urn:xmpp:http:upload:0 and max-file-size. */
function maxFileSize(query: Element): number | undefined {
  for (const form of query.getChildren("x", NS_DATA)) {
    const fields = form.getChildren("field");
    if (fields.find((f) => f.attrs.var === "FORM_TYPE")?.getChildText("value") !== NS_UPLOAD) continue;
    const value = fields.find((f) => f.attrs.var === "max-file-size")?.getChildText("value")?.trim() ?? "";
    if (/^\d{1,15}$/.test(value)) return Number(value);
  }
  return undefined;
}
