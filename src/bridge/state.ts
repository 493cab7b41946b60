// The bridge's state on disk, one file for two jobs that share its atomic save:
//   handled: per user, the unique names of INBOX mail already handled (pushed, or skipped because
//            the user was offline, the mail was ours, or it was Seen), so nothing is pushed twice
//            across restarts. Names no longer in new/ or in the recent part of cur/ are dropped at
//            each scan, so the list stays small. With it, `since`: cur/ mail delivered before
//            the user's baseline is old news. Read and written by watch/.
//   threads: the last pushed mails, for reply threading (./threads.ts).
//   pushed:  the stanza ids of the last pushes and the mail each one was, so that a chat marker
//            or receipt for one can mark that mail \Seen (./read-markers.ts).
import { readFile } from "node:fs/promises";
import path from "node:path";
import { StorageError } from "../errors.js";
import { writeStateFile } from "./state-file.js";
import { findContext, withContext, type ReplyContext, type Threads } from "./threads.js";

/** Pushes remembered per user for read markers: a client marks what it shows, so recent ones. */
export const MAX_PUSHED = 500;

export interface PushRecord {
  /** The id of the message stanza we pushed. */
  readonly id: string;
  /** The mail's unique name in the user's INBOX. */
  readonly base: string;
  /** The JID it came from (the escaped sender): markers are per conversation (XEP-0333 §4). */
  readonly peer: string;
  /** The mail's Message-ID, for reactions to it (RFC 9078, ./reactions/); absent in older files. */
  readonly messageId?: string;
  /** Set once a marker has made it \Seen. */
  read?: boolean;
}

export interface PushedMail {
  remember(user: string, record: PushRecord): void;
  /** The records of this user, oldest first (live objects: set `read` and call changed()). */
  list(user: string): readonly PushRecord[];
  changed(): void;
}

/** One file in the state dir; a rename over it is atomic, so a crash leaves the old or the new. */
export const STATE_FILE = "push-state.json";
/** Batch the writes of a burst of deliveries into one. */
const SAVE_DELAY_MS = 50;

interface UserState {
  handled: string[];
  replies: ReplyContext[];
  pushed?: PushRecord[];
  /** Epoch ms; absent in files written before cur/ was scanned: taken as the time of loading. */
  since?: number;
}

export interface HandledMail {
  /** False until this user has been scanned once: their first scan only takes a baseline. */
  knows(user: string): boolean;
  isHandled(user: string, base: string): boolean;
  markHandled(user: string, base: string): void;
  /** Epoch ms before which this user's mail in cur/ is old news (0: all of it is new). */
  since(user: string): number;
  /** Sets `since` (the user's baseline). */
  startAt(user: string, ms: number): void;
  /** Keeps only these names (what is in the INBOX and still news), and remembers the user. */
  retain(user: string, present: ReadonlySet<string>): void;
}

export interface BridgeState {
  readonly handled: HandledMail;
  readonly threads: Threads;
  readonly pushed: PushedMail;
  /** Resolves once everything marked so far is on disk. */
  flush(): Promise<void>;
}

export async function openBridgeState(stateDir: string, options: { onError: (err: StorageError) => void }): Promise<BridgeState> {
  const file = path.join(stateDir, STATE_FILE);
  const users = new Map<string, { handled: Set<string>; replies: ReplyContext[]; since: number; pushed: PushRecord[] }>();
  const loadedAt = Date.now();
  try {
    const parsed = JSON.parse(await readFile(file, "utf8")) as Record<string, UserState>;
    for (const [user, state] of Object.entries(parsed)) {
      users.set(user, { handled: new Set(state.handled), replies: state.replies ?? [], since: state.since ?? loadedAt, pushed: state.pushed ?? [] });
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
      // A torn or foreign file: start from a baseline rather than refuse to run. The cost is that
      // mail in new/ right now is treated as handled, never that something is pushed twice.
      users.clear();
    }
  }
  let timer: NodeJS.Timeout | undefined;
  let saving: Promise<void> = Promise.resolve();
  let dirty = false;

  async function save(): Promise<void> {
    dirty = false;
    const data: Record<string, UserState> = {};
    for (const [user, s] of users) data[user] = { handled: [...s.handled], replies: s.replies, since: s.since, pushed: s.pushed };
    await writeStateFile(stateDir, file, data);
  }

  function schedule(): void {
    dirty = true;
    if (timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      saving = saving.then(save).catch((err: StorageError) => options.onError(err));
    }, SAVE_DELAY_MS);
  }

  const entry = (user: string) => {
    let s = users.get(user);
    if (!s) {
      s = { handled: new Set(), replies: [], since: 0, pushed: [] };
      users.set(user, s);
    }
    return s;
  };

  return {
    handled: {
      knows: (user) => users.has(user),
      isHandled: (user, base) => users.get(user)?.handled.has(base) ?? false,
      markHandled(user, base) {
        entry(user).handled.add(base);
        schedule();
      },
      since: (user) => users.get(user)?.since ?? 0,
      startAt(user, ms) {
        entry(user).since = ms;
        schedule();
      },
      retain(user, present) {
        const s = entry(user);
        for (const base of s.handled) if (!present.has(base)) s.handled.delete(base);
        schedule();
      },
    },
    threads: {
      remember(user, context) {
        const s = entry(user);
        s.replies = withContext(s.replies, context);
        schedule();
      },
      replyContext: (user, match) => findContext(users.get(user)?.replies ?? [], match),
    },
    pushed: {
      remember(user, record) {
        const s = entry(user);
        s.pushed = [...s.pushed, record].slice(-MAX_PUSHED);
        schedule();
      },
      list: (user) => users.get(user)?.pushed ?? [],
      changed: () => schedule(),
    },
    async flush() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (dirty) saving = saving.then(save).catch((err: StorageError) => options.onError(err));
      await saving;
    },
  };
}
