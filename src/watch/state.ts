// What has been handled, on disk, so nothing is pushed twice across restarts.
// Per user: the base names in INBOX new/ already handled (pushed, or skipped because the user was
// offline, the mail was ours, or it was Seen), and the last pushed mails for reply threading.
// Names that have left new/ are dropped at each scan, so the file stays as small as new/ is.
import { mkdir, open, readFile, rename } from "node:fs/promises";
import path from "node:path";
import { StorageError } from "../errors.js";

/** One file in the state dir; a rename over it is atomic, so a crash leaves the old or the new. */
export const STATE_FILE = "push-state.json";
/** Pushed mails remembered per user for In-Reply-To: enough for a day of mail, small on disk. */
const MAX_REPLY_CONTEXTS = 200;
/** Batch the writes of a burst of deliveries into one. */
const SAVE_DELAY_MS = 50;

export interface ReplyContext {
  readonly thread: string | undefined;
  readonly from: string;
  readonly messageId: string;
  readonly references: readonly string[];
  readonly subject: string;
}

interface UserState {
  handled: string[];
  replies: ReplyContext[];
}

export interface PushState {
  /** False until this user has been scanned once: their first scan only takes a baseline. */
  knows(user: string): boolean;
  isHandled(user: string, base: string): boolean;
  markHandled(user: string, base: string): void;
  /** Keeps only these names (what is in new/ now), and remembers the user. */
  retain(user: string, present: ReadonlySet<string>): void;
  remember(user: string, context: ReplyContext): void;
  /** By thread first, else the last mail from that address (lower-cased). */
  replyContext(user: string, match: { thread?: string | undefined; from: string }): ReplyContext | undefined;
  /** Resolves once everything marked so far is on disk. */
  flush(): Promise<void>;
}

export async function openPushState(stateDir: string, options: { onError: (err: StorageError) => void }): Promise<PushState> {
  const file = path.join(stateDir, STATE_FILE);
  const users = new Map<string, { handled: Set<string>; replies: ReplyContext[] }>();
  try {
    const parsed = JSON.parse(await readFile(file, "utf8")) as Record<string, UserState>;
    for (const [user, state] of Object.entries(parsed)) {
      users.set(user, { handled: new Set(state.handled), replies: state.replies ?? [] });
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
    for (const [user, s] of users) data[user] = { handled: [...s.handled], replies: s.replies };
    const tmp = `${file}.tmp`;
    try {
      await mkdir(stateDir, { recursive: true, mode: 0o700 });
      const handle = await open(tmp, "w", 0o600);
      try {
        await handle.writeFile(JSON.stringify(data));
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, file);
    } catch (err) {
      throw new StorageError(file, err as NodeJS.ErrnoException);
    }
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
      s = { handled: new Set(), replies: [] };
      users.set(user, s);
    }
    return s;
  };

  return {
    knows: (user) => users.has(user),
    isHandled: (user, base) => users.get(user)?.handled.has(base) ?? false,
    markHandled(user, base) {
      entry(user).handled.add(base);
      schedule();
    },
    retain(user, present) {
      const s = entry(user);
      for (const base of s.handled) if (!present.has(base)) s.handled.delete(base);
      schedule();
    },
    remember(user, context) {
      const s = entry(user);
      s.replies = [...s.replies.filter((r) => r.messageId !== context.messageId), context].slice(-MAX_REPLY_CONTEXTS);
      schedule();
    },
    replyContext(user, match) {
      const replies = users.get(user)?.replies ?? [];
      const byThread = match.thread ? replies.find((r) => r.thread === match.thread) : undefined;
      return byThread ?? replies.filter((r) => r.from.toLowerCase() === match.from.toLowerCase()).at(-1);
    },
    async flush() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (dirty) saving = saving.then(save).catch((err: StorageError) => options.onError(err));
      await saving;
    },
  };
}
