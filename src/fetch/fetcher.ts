// A bounded, allow-listed HTTP(S) GET for files someone else chose: the URL comes from a stranger's
// message, so every request and every redirect hop must be on the admin's list of origins, the
// body is counted as it streams (Content-Length is only a promise), and one deadline covers
// waiting for a slot, every hop and the whole body. A failure is a typed result, never a throw:
// the caller stores the message anyway, with the reason.
import http from "node:http";
import https from "node:https";
import { FETCH_SCHEMES, type OriginList } from "./origins.js";

/** Why a file was not fetched. Stable words: they are metric labels and log fields. */
export const FETCH_FAILURES = [
  "bad-url", "scheme", "off-list", "redirect-off-list", "too-many-redirects",
  "not-found", "http-status", "too-big", "timeout", "network",
] as const;
export type FetchFailure = (typeof FETCH_FAILURES)[number];

export interface FetchedFile {
  /** The URL asked for (not where redirects ended). */
  readonly url: string;
  readonly bytes: Buffer;
  /** The last path segment of the URL, decoded; "file" when there is none. */
  readonly name: string;
  /** The response's Content-Type without parameters, lower case; undefined when absent. */
  readonly type: string | undefined;
}

export type FetchResult = { readonly ok: true; readonly file: FetchedFile } | { readonly ok: false; readonly reason: FetchFailure; readonly detail: string };

export interface FetchPolicy {
  readonly origins: OriginList;
  /** Largest body accepted, in bytes. */
  readonly maxBytes: number;
  /** One deadline for a fetch: the slot wait, every redirect hop and the whole body. */
  readonly timeoutMs: number;
}

export interface FetchOptions {
  /** A smaller byte budget than the policy's (what is left of a message's budget). */
  readonly maxBytes?: number;
  /** An earlier deadline than the policy's, as a performance.now() time (what is left of a message's). */
  readonly deadline?: number;
}

export interface Fetcher {
  readonly policy: FetchPolicy;
  fetch(url: string, options?: FetchOptions): Promise<FetchResult>;
}

/** Upload services answer with the file itself; a chain of redirects is a trap or a loop. */
export const MAX_REDIRECTS = 3;
/**
 * Fetches running at once. Each holds up to maxBytes in memory until its mail is written, so this
 * bounds that memory (4 × 16 MiB by default) and the outbound connections a burst of shared links
 * can open; a wait for a slot counts against the fetch's deadline.
 */
export const MAX_CONCURRENT_FETCHES = 4;

type Hop =
  | { kind: "redirect"; location: string | undefined; status: number }
  | { kind: "status"; status: number }
  | { kind: "too-big"; detail: string }
  | { kind: "body"; bytes: Buffer; type: string | undefined };

const fail = (reason: FetchFailure, detail: string): FetchResult => ({ ok: false, reason, detail });

export function createFetcher(policy: FetchPolicy): Fetcher {
  const slots = createSlots(MAX_CONCURRENT_FETCHES);

  /** Is this URL one we may request at all? A reason if not. */
  function refuse(url: URL, hop: "url" | "redirect"): FetchResult | undefined {
    if (!FETCH_SCHEMES.includes(url.protocol)) return fail("scheme", `${url.protocol} links are not fetched (only http and https)`);
    if (url.username || url.password) return fail("bad-url", "a URL with a user name or password is not fetched");
    if (!policy.origins.allows(url)) {
      return hop === "url" ? fail("off-list", `${url.origin} is not in --upload-origins`) : fail("redirect-off-list", `redirected to ${url.origin}, which is not in --upload-origins`);
    }
    return undefined;
  }

  async function run(start: URL, url: string, maxBytes: number, signal: AbortSignal): Promise<FetchResult> {
    let current = start;
    for (let hops = 0; ; hops++) {
      const hop = await getOnce(current, maxBytes, signal);
      if (hop.kind === "body") return { ok: true, file: { url, bytes: hop.bytes, name: nameFrom(start), type: hop.type } };
      if (hop.kind === "too-big") return fail("too-big", hop.detail);
      if (hop.kind === "status") {
        return hop.status === 404 || hop.status === 410 ? fail("not-found", `the server answered ${hop.status}: the file is gone`) : fail("http-status", `the server answered ${hop.status}`);
      }
      if (hops >= MAX_REDIRECTS) return fail("too-many-redirects", `more than ${MAX_REDIRECTS} redirects`);
      if (!hop.location) return fail("bad-url", `a ${hop.status} redirect without a Location`);
      let next: URL;
      try {
        next = new URL(hop.location, current);
      } catch {
        return fail("bad-url", `a ${hop.status} redirect without a valid Location`);
      }
      // Checked before anything is sent: a redirect never takes us off the list.
      const refused = refuse(next, "redirect");
      if (refused) return refused;
      current = next;
    }
  }

  return {
    policy,
    async fetch(url, options = {}) {
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        return fail("bad-url", "not a URL");
      }
      const refused = refuse(parsed, "url");
      if (refused) return refused;
      const maxBytes = Math.min(policy.maxBytes, options.maxBytes ?? Infinity);
      const deadline = Math.min(performance.now() + policy.timeoutMs, options.deadline ?? Infinity);
      const left = () => Math.max(0, deadline - performance.now());
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), left());
      try {
        const release = await slots.acquire(controller.signal);
        if (!release) return fail("timeout", `no fetch slot free within ${policy.timeoutMs} ms (${MAX_CONCURRENT_FETCHES} fetches at once)`);
        try {
          return await run(parsed, url, maxBytes, controller.signal);
        } finally {
          release();
        }
      } catch (err) {
        if (controller.signal.aborted) return fail("timeout", `not complete within ${policy.timeoutMs} ms`);
        const e = err as NodeJS.ErrnoException;
        return fail("network", e.code ?? e.message);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** One GET, no redirect followed. Rejects on network errors and on abort. */
function getOnce(url: URL, maxBytes: number, signal: AbortSignal): Promise<Hop> {
  const client = url.protocol === "https:" ? https : http;
  return new Promise<Hop>((resolve, reject) => {
    const request = client.get(
      url,
      {
        signal,
        // A fresh connection per request: nothing pooled outlives the fetch.
        agent: false,
        // Identity only: a compressed body could expand past maxBytes after we counted it.
        headers: { "user-agent": "xmpp-maildir", accept: "*/*", "accept-encoding": "identity" },
      },
      (response) => {
        const status = response.statusCode ?? 0;
        // Settle first: destroying an unfinished response emits 'aborted' at once.
        const done = (hop: Hop) => {
          resolve(hop);
          response.destroy();
        };
        if (status >= 300 && status < 400) return done({ kind: "redirect", location: response.headers.location, status });
        if (status < 200 || status >= 300) return done({ kind: "status", status });
        const declared = Number(response.headers["content-length"]);
        if (Number.isFinite(declared) && declared > maxBytes) return done({ kind: "too-big", detail: `${declared} bytes announced, over the ${maxBytes}-byte limit` });
        const chunks: Buffer[] = [];
        let size = 0;
        response.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) return done({ kind: "too-big", detail: `more than the ${maxBytes}-byte limit sent` });
          chunks.push(chunk);
        });
        response.on("end", () => {
          if (!response.complete) return reject(new Error(`connection closed before the end of the body (${size} bytes)`));
          resolve({ kind: "body", bytes: Buffer.concat(chunks, size), type: mediaType(response.headers["content-type"]) });
        });
        response.on("error", reject);
        response.on("aborted", () => reject(new Error(`connection aborted (${size} bytes)`)));
      },
    );
    request.on("error", reject);
  });
}

function mediaType(value: string | undefined): string | undefined {
  const type = value?.split(";")[0]?.trim().toLowerCase();
  return type || undefined;
}

/** XEP-0363 upload URLs end in the file's name (Prosody: /<slot>/<name>, ejabberd: /<dir>/<name>). */
function nameFrom(url: URL): string {
  const last = url.pathname.split("/").filter((s) => s !== "").at(-1) ?? "";
  let name: string;
  try {
    name = decodeURIComponent(last);
  } catch {
    name = last;
  }
  return name || "file";
}

/** A counting semaphore whose wait gives up when the signal aborts (resolving undefined). */
function createSlots(max: number) {
  let active = 0;
  const waiting: Array<() => void> = [];
  const release = () => {
    active--;
    waiting.shift()?.();
  };
  return {
    acquire(signal: AbortSignal): Promise<(() => void) | undefined> {
      if (active < max) {
        active++;
        return Promise.resolve(release);
      }
      return new Promise((resolve) => {
        const wake = () => {
          signal.removeEventListener("abort", onAbort);
          active++;
          resolve(release);
        };
        const onAbort = () => {
          const i = waiting.indexOf(wake);
          if (i !== -1) waiting.splice(i, 1);
          resolve(undefined);
        };
        waiting.push(wake);
        signal.addEventListener("abort", onAbort, { once: true });
      });
    },
  };
}
