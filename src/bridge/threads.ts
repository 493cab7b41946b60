// Reply contexts: the pushed mails a user may answer over XMPP. notify/ writes one for each mail
// it pushes; outbound/ reads it to give the reply its In-Reply-To, References and subject
// (RFC 5322 §3.6.4). Kept in the bridge state file (./state.ts), so they outlive a restart.

/** Pushed mails remembered per user for In-Reply-To: enough for a day of mail, small on disk. */
export const MAX_REPLY_CONTEXTS = 200;

export interface ReplyContext {
  readonly thread: string | undefined;
  readonly from: string;
  readonly messageId: string;
  readonly references: readonly string[];
  readonly subject: string;
  /** A chat-over-email conversation (Chat-Version): replies follow Delta Chat's conventions. */
  readonly chat?: boolean;
}

export interface Threads {
  remember(user: string, context: ReplyContext): void;
  /**
   * By thread first, else the last mail from that address (case-insensitive). In a chat-over-email
   * conversation always the last message of it, as Delta Chat answers.
   */
  replyContext(user: string, match: { thread?: string | undefined; from: string }): ReplyContext | undefined;
}

/** `list` with `context` added as the newest, at most MAX_REPLY_CONTEXTS long. */
export function withContext(list: readonly ReplyContext[], context: ReplyContext): ReplyContext[] {
  return [...list.filter((r) => r.messageId !== context.messageId), context].slice(-MAX_REPLY_CONTEXTS);
}

export function findContext(list: readonly ReplyContext[], match: { thread?: string | undefined; from: string }): ReplyContext | undefined {
  const byThread = match.thread ? list.find((r) => r.thread === match.thread) : undefined;
  const last = list.filter((r) => r.from.toLowerCase() === match.from.toLowerCase()).at(-1);
  return last?.chat ? last : (byThread ?? last);
}
