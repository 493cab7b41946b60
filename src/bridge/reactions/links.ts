// Which mail each of the user's own XMPP messages became: the stanza id (and XEP-0359 origin-id)
// of a message the user sent to an escaped address, the Message-ID of the mail it went out as,
// and the conversation (the escaped JID). A reaction from mail names the Message-ID
// (RFC 9078 §2, In-Reply-To); a reaction from XMPP names the stanza id (XEP-0444 §3). The mails
// the user received are in the push records (../state.ts), which carry their Message-ID.
//
// One small file in the state dir, replaced atomically (../state-file.ts), so a reaction to
// yesterday's message still finds it after a restart.
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { StorageError } from "../../errors.js";
import { writeStateFile } from "../state-file.js";

export const SENT_LINKS_FILE = "sent-links.json";
/** Per user: reactions go to recent messages; as many as the push records keep (MAX_PUSHED). */
export const MAX_SENT_LINKS = 500;
/** Batch the writes of a burst of replies into one. */
const SAVE_DELAY_MS = 50;

export interface SentLink {
  /** The ids a client may name the message by: its id attribute and its origin-id, if any. */
  readonly ids: readonly string[];
  /** With angle brackets, as in the mail's header. */
  readonly messageId: string;
  /** The escaped JID it was sent to (bare). */
  readonly peer: string;
}

export interface SentLinks {
  remember(user: string, link: SentLink): void;
  /** The user's message with this Message-ID, if remembered. */
  byMessageId(user: string, messageId: string): SentLink | undefined;
  /** The user's message with this stanza id (or origin-id), if remembered. */
  byStanzaId(user: string, id: string): SentLink | undefined;
  /** Resolves once everything remembered so far is on disk. */
  flush(): Promise<void>;
}

export async function openSentLinks(stateDir: string, options: { onError: (err: StorageError) => void }): Promise<SentLinks> {
  const file = path.join(stateDir, SENT_LINKS_FILE);
  let users = new Map<string, SentLink[]>();
  try {
    const parsed = JSON.parse(await readFile(file, "utf8")) as Record<string, SentLink[]>;
    for (const [user, links] of Object.entries(parsed)) if (Array.isArray(links)) users.set(user, links);
  } catch (err) {
    // A torn or foreign file: start empty. The cost is that reactions to older messages are not
    // matched (and are logged as such), never that one lands on the wrong message.
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") users = new Map();
  }
  let timer: NodeJS.Timeout | undefined;
  let saving: Promise<void> = Promise.resolve();
  let dirty = false;
  const save = async () => {
    dirty = false;
    await writeStateFile(stateDir, file, Object.fromEntries(users));
  };
  const queue = () => {
    saving = saving.then(save).catch((err: StorageError) => options.onError(err));
  };
  return {
    remember(user, link) {
      users.set(user, [...(users.get(user) ?? []), link].slice(-MAX_SENT_LINKS));
      dirty = true;
      timer ??= setTimeout(() => {
        timer = undefined;
        queue();
      }, SAVE_DELAY_MS);
    },
    byMessageId: (user, messageId) => users.get(user)?.findLast((l) => l.messageId === messageId),
    byStanzaId: (user, id) => users.get(user)?.findLast((l) => l.ids.includes(id)),
    async flush() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (dirty) queue();
      await saving;
    },
  };
}
