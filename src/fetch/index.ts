// Bounded, allow-listed HTTP(S) fetches of files named in messages (README, "Shared files").
export { createFetcher, FETCH_FAILURES, MAX_CONCURRENT_FETCHES, MAX_REDIRECTS, type FetchedFile, type Fetcher, type FetchFailure, type FetchOptions, type FetchPolicy, type FetchResult } from "./fetcher.js";
export { FETCH_SCHEMES, parseOrigins, type OriginList } from "./origins.js";
