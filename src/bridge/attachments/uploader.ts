// XEP-0363 from the component's side: a slot from the upload service (§4), then an HTTP PUT of the
// bytes to it (§5). What comes back is the GET URL to share. Failures are a sentence for the line
// the user reads, never a throw: the mail's text goes whatever happens to its files.
import xml from "@xmpp/xml";
import type { Logger } from "../../log/index.js";
import { createServiceFinder, IQ_TIMEOUT_MS, NS_UPLOAD, type IqRequest } from "./service.js";

/** A loopback or LAN PUT of 16 MiB takes well under this; a stuck one must not hold the push forever. */
const PUT_TIMEOUT_MS = 60_000;

export interface FileToUpload {
  /** Already safe (./names.ts). */
  readonly name: string;
  readonly type: string;
  readonly bytes: Buffer;
}

export type UploadResult = { readonly ok: true; readonly url: string } | { readonly ok: false; readonly why: string; readonly fix?: string };

/** What an admin does when the upload service refuses the component (docs/attachments.md). */
export const UPLOAD_ACCESS_FIX =
  "give the component's domain upload rights: Prosody http_file_share_access, ejabberd mod_http_upload's access rule (docs/attachments.md)";

export interface Uploader {
  /** The largest file this uploader takes: --max-upload-bytes. */
  readonly maxBytes: number;
  upload(file: FileToUpload): Promise<UploadResult>;
}

export interface UploaderOptions {
  readonly iq: IqRequest;
  /** The component's domain: the slot request's from, which the upload service's access rule must allow. */
  readonly from: string;
  readonly userDomain: string;
  /** --upload-service; undefined: found by disco#items on userDomain. */
  readonly service: string | undefined;
  /** --max-upload-bytes. */
  readonly maxBytes: number;
  readonly logger: Logger;
}

export function createUploader(options: UploaderOptions): Uploader {
  const finder = createServiceFinder({ iq: options.iq, from: options.from, userDomain: options.userDomain, service: options.service });
  async function upload(file: FileToUpload): Promise<UploadResult> {
    const size = file.bytes.length;
    if (size > options.maxBytes) return { ok: false, why: `${size} bytes, over the ${options.maxBytes}-byte limit (max-upload-bytes)` };
    const service = await finder.find();
    if ("missing" in service) return { ok: false, why: service.missing };
    if (service.maxFileSize !== undefined && size > service.maxFileSize) {
      return { ok: false, why: `${size} bytes, over the upload service's ${service.maxFileSize}-byte limit` };
    }
    let put: string;
    let get: string;
    const headers: Record<string, string> = {};
    try {
      const reply = await options.iq(
        xml("iq", { type: "get", from: options.from, to: service.jid }, xml("request", { xmlns: NS_UPLOAD, filename: file.name, size: String(size), "content-type": file.type })),
      );
      const slot = reply.getChild("slot", NS_UPLOAD);
      put = String(slot?.getChild("put")?.attrs.url ?? "");
      get = String(slot?.getChild("get")?.attrs.url ?? "");
      if (!/^https?:\/\//.test(put) || !/^https?:\/\//.test(get)) return { ok: false, why: `the upload service ${service.jid} gave no usable slot` };
      for (const h of slot!.getChild("put")!.getChildren("header")) {
        const name = String(h.attrs.name ?? "");
        // §4: only these may be passed on, and never with a line break (header injection).
        if (/^(authorization|cookie|expires)$/i.test(name)) headers[name] = h.text().replace(/[\r\n]/g, "");
      }
    } catch (err) {
      const why = `the upload service ${service.jid} refused a slot: ${describeIqError(err)}`;
      // forbidden/not-allowed: the service's access rules leave the component out, which only the
      // admin can change; the user's line says so, and the log says how (a warning, not info).
      return refusedAccess(err) ? { ok: false, why: `${why}; the bridge may not upload there`, fix: UPLOAD_ACCESS_FIX } : { ok: false, why };
    }
    try {
      const res = await fetch(put, {
        method: "PUT",
        headers: { ...headers, "content-type": file.type, "content-length": String(size) },
        body: file.bytes,
        signal: AbortSignal.timeout(PUT_TIMEOUT_MS),
      });
      await res.arrayBuffer().catch(() => undefined);
      // §5: 201 Created; some services answer 200.
      if (res.status !== 200 && res.status !== 201) return { ok: false, why: `the upload service answered ${res.status} to the upload` };
    } catch (err) {
      return { ok: false, why: `the upload failed: ${(err as Error).message}` };
    }
    return { ok: true, url: get };
  }
  return {
    maxBytes: options.maxBytes,
    async upload(file) {
      const result = await upload(file);
      // The GET URL is a capability (anyone holding it can download the file): not logged.
      if (result.ok) options.logger.info({ name: file.name, bytes: file.bytes.length, type: file.type }, "attachment shared");
      else if (result.fix) options.logger.warn({ name: file.name, bytes: file.bytes.length, why: result.why, fix: result.fix }, "attachment not shared");
      else options.logger.info({ name: file.name, bytes: file.bytes.length, why: result.why }, "attachment not shared");
      return result;
    },
  };
}

/** RFC 6120 §8.3.3.5 forbidden, §8.3.3.10 not-allowed: the requester lacks the rights. */
function refusedAccess(err: unknown): boolean {
  const condition = (err as { condition?: string }).condition;
  return condition === "forbidden" || condition === "not-allowed";
}

/** An IQ error (xmpp.js StanzaError: condition and text) or a timeout, as a short phrase. */
function describeIqError(err: unknown): string {
  const e = err as { condition?: string; text?: string; message?: string; name?: string };
  if (e.condition) return e.text ? `${e.condition} (${e.text})` : e.condition;
  if (e.name === "TimeoutError") return `no answer within ${IQ_TIMEOUT_MS} ms`;
  return e.message ?? String(err);
}
