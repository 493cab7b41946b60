// Shared files, fetched before the mail is stored (README, "Shared files"). Runs between capture
// and Sink.store, inside the message's write slot: the copy is confirmed only after the mail, with
// whatever could be fetched, is durably stored, and fetching adds at most the fetcher's deadline
// (10 s) to that. A file that cannot be fetched never holds the message back or loses it: the mail
// keeps the link and says why the file is not attached.
import { createHash, getHashes } from "node:crypto";
import { MAX_SHARES, type ArchiveRecord, type ShareOutcome, type SharedFile } from "../capture/index.js";
import type { Fetcher, FetchFailure } from "../fetch/index.js";
import { bare } from "../jid.js";
import type { Logger } from "../log/index.js";
import type { Metrics } from "../metrics/index.js";

/** XEP-0300 §3 / the IANA hash names clients send → Node's names. Others are not checked. */
const HASH_ALGOS: Readonly<Record<string, string>> = { "sha-1": "sha1", "sha-256": "sha256", "sha-512": "sha512", "sha3-256": "sha3-256", "sha3-512": "sha3-512" };
const AVAILABLE = new Set(getHashes());

/** A sentence per reason, for the line in the mail's text part (a person reads it, years later). */
const WHY: Readonly<Record<FetchFailure | "hash-mismatch" | "too-many-files", string>> = {
  "bad-url": "not a link that can be fetched",
  scheme: "only http and https links are fetched",
  "off-list": "its server is not one of the upload services this archive fetches from",
  "redirect-off-list": "its server redirected to one this archive does not fetch from",
  "too-many-redirects": "too many redirects",
  "not-found": "the upload service no longer has it",
  "http-status": "the upload service did not hand it out",
  "too-big": "larger than this archive keeps",
  timeout: "it did not arrive in time",
  network: "the upload service could not be reached",
  "hash-mismatch": "what the server sent does not match the hash the sender gave",
  "too-many-files": `more than ${MAX_SHARES} files in one message`,
};

export interface UploadDeps {
  readonly fetcher: Fetcher;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/** The record with `files` set: every share fetched (or why not). Never throws for a file. */
export async function fetchShares(record: ArchiveRecord, deps: UploadDeps): Promise<ArchiveRecord> {
  const shares = record.shares ?? [];
  // An encrypted message's file is encrypted too (aesgcm:// inside the ciphertext): nothing to fetch.
  if (shares.length === 0 || record.encryption) return record;
  const { fetcher, logger, metrics } = deps;
  const deadline = performance.now() + fetcher.policy.timeoutMs;
  let budget = fetcher.policy.maxBytes;
  const files: ShareOutcome[] = [];
  const log = logger.child({ user: bare(record.owner), id: record.ids.id });
  for (const [i, share] of shares.entries()) {
    const origin = originOf(share.url);
    const notAttached = (reason: keyof typeof WHY, detail: string) => {
      metrics.upload({ result: reason });
      // The full URL is a capability (anyone holding it can download the file): log the origin only.
      log.info({ origin, via: share.via, reason, detail }, "shared file not attached");
      files.push({ share, notAttached: `${WHY[reason]}: ${detail}` });
    };
    if (i >= MAX_SHARES) {
      notAttached("too-many-files", `only the first ${MAX_SHARES} are fetched`);
      continue;
    }
    if (share.size !== undefined && share.size > budget) {
      notAttached("too-big", `${share.size} bytes announced, over the ${budget}-byte limit`);
      continue;
    }
    const result = await fetcher.fetch(share.url, { maxBytes: budget, deadline });
    if (!result.ok) {
      notAttached(result.reason, result.detail);
      continue;
    }
    const mismatch = hashMismatch(share, result.file.bytes);
    if (mismatch) {
      notAttached("hash-mismatch", mismatch);
      continue;
    }
    budget -= result.file.bytes.length;
    const attached = { bytes: result.file.bytes, name: share.name ?? result.file.name, type: share.mediaType ?? safeMediaType(result.file.type) };
    metrics.upload({ result: "attached", bytes: attached.bytes.length });
    log.info({ origin, via: share.via, bytes: attached.bytes.length, type: attached.type }, "shared file attached");
    files.push({ share, attached });
  }
  return { ...record, files };
}

/** XEP-0447 §6: a hash the sender gave must match what was fetched. */
function hashMismatch(share: SharedFile, bytes: Buffer): string | undefined {
  for (const [algo, digest] of Object.entries(share.hashes)) {
    const node = HASH_ALGOS[algo];
    if (!node || !AVAILABLE.has(node)) continue;
    const actual = createHash(node).update(bytes).digest("base64");
    if (actual !== digest) return `${algo} ${actual}, the sender gave ${digest}`;
  }
  return undefined;
}

/** A media type from the server, as type/subtype only; anything odd becomes application/octet-stream. */
function safeMediaType(type: string | undefined): string {
  return type && /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/.test(type) ? type : "application/octet-stream";
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return "(not a URL)";
  }
}
