export { openJournal, SEGMENT_ENTRIES, type DedupeJournal, type LookupResult } from "./journal.js";
