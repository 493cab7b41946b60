// Files a message shares by URL (how XEP-0363 uploads travel), with what the sender said about
// them: XEP-0066 OOB (Conversations, Gajim, Monal: the body is the URL too), XEP-0385 SIMS (Dino,
// older Movim), XEP-0447 SFS (Dino, Kaidan/QXmpp). Pure: no I/O. The archive handler fetches them
// (src/archive/uploads.ts); this only reads the stanza.
import type { Element } from "@xmpp/xml";
import { NS_OOB } from "../namespaces.js";
import { NS_REFERENCE, NS_SFS, NS_SIMS, NS_URL_DATA, safeType } from "./chat.js";

const NS_JINGLE_FT = "urn:xmpp:jingle:apps:file-transfer:5";
const NS_FILE_METADATA = "urn:xmpp:file:metadata:0";
const NS_HASHES = "urn:xmpp:hashes:2";

/** More files than this in one message are listed, not fetched: each fetch costs time and memory. */
export const MAX_SHARES = 8;

export interface SharedFile {
  readonly url: string;
  /** How it was shared. */
  readonly via: "oob" | "sims" | "sfs";
  /** From the file metadata (XEP-0234 <file/> in SIMS, XEP-0446 in SFS), when given. */
  readonly name: string | undefined;
  readonly mediaType: string | undefined;
  readonly size: number | undefined;
  /** XEP-0300 hashes: algo (e.g. sha-256) → base64 digest. */
  readonly hashes: Readonly<Record<string, string>>;
}

/** Every distinct URL shared: SIMS and SFS first (they carry metadata, which wins over a bare OOB link to the same URL), then OOB. */
export function readShares(message: Element): SharedFile[] {
  const byUrl = new Map<string, SharedFile>();
  const add = (share: SharedFile) => {
    const known = byUrl.get(share.url);
    if (!known || (known.via === "oob" && share.via !== "oob")) byUrl.set(share.url, share);
  };
  // XEP-0385 §2: <reference type='data'><media-sharing><file/><sources><reference uri/>…
  for (const ref of message.getChildren("reference", NS_REFERENCE)) {
    const sharing = ref.getChild("media-sharing", NS_SIMS);
    if (!sharing) continue;
    const meta = readMetadata(sharing.getChild("file", NS_JINGLE_FT));
    // The spec puts the source references in urn:xmpp:reference:0; Dino writes them in the SIMS
    // namespace (xmpp-vala 0385_stateless_inline_media_sharing.vala). Accept both.
    const sources = sharing.getChild("sources")?.children.filter((c): c is Element => typeof c !== "string" && c.name === "reference") ?? [];
    for (const source of sources) {
      const url = clean(source.attrs.uri);
      if (url) add({ url, via: "sims", ...meta });
    }
  }
  // XEP-0447 §3.1: <file-sharing><file xmlns='urn:xmpp:file:metadata:0'/><sources><url-data target/>…
  for (const sharing of message.getChildren("file-sharing", NS_SFS)) {
    const meta = readMetadata(sharing.getChild("file", NS_FILE_METADATA));
    for (const source of sharing.getChild("sources")?.getChildren("url-data", NS_URL_DATA) ?? []) {
      const url = clean(source.attrs.target);
      if (url) add({ url, via: "sfs", ...meta });
    }
  }
  // XEP-0066 §3: <x xmlns='jabber:x:oob'><url/></x>. XEP-0363 §1 names this as the way to share.
  for (const x of message.getChildren("x", NS_OOB)) {
    const url = clean(x.getChildText("url") ?? undefined);
    if (url) add({ url, via: "oob", name: undefined, mediaType: undefined, size: undefined, hashes: {} });
  }
  return [...byUrl.values()];
}

function clean(value: string | undefined): string | undefined {
  const url = value?.trim();
  return url ? url : undefined;
}

function readMetadata(file: Element | undefined): Pick<SharedFile, "name" | "mediaType" | "size" | "hashes"> {
  const name = file?.getChildText("name")?.trim() || undefined;
  const type = file?.getChildText("media-type")?.trim();
  const sizeText = file?.getChildText("size")?.trim() ?? "";
  const size = /^\d{1,15}$/.test(sizeText) ? Number(sizeText) : undefined;
  const hashes: Record<string, string> = {};
  for (const hash of file?.getChildren("hash", NS_HASHES) ?? []) {
    const algo = hash.attrs.algo;
    const digest = hash.text().trim();
    if (typeof algo === "string" && algo && digest) hashes[algo] = digest;
  }
  return { name, mediaType: type ? safeType(type) : undefined, size, hashes };
}

/**
 * What became of one shared file, set on the record by the archive handler before the mail is
 * rendered: attached (the bytes as fetched), or not, with a sentence saying why for the text part.
 */
export type ShareOutcome =
  | { readonly share: SharedFile; readonly attached: { readonly bytes: Buffer; readonly name: string; readonly type: string } }
  | { readonly share: SharedFile; readonly notAttached: string };
