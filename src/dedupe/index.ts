export { openJournal, SEGMENT_ENTRIES, LMTP_LOCATION_PREFIX, type DedupeJournal, type LookupResult } from "./journal.js";
