// Who is online, learnt the roster way (RFC 6121 §3-4): a user adds the component domain as a
// contact and approves its subscription request; from then on their server sends the component
// every available/unavailable presence of theirs, and answers the component's probes.
//
// What the component answers (all from the bare component domain, RFC 6121 §3.1.3, §4.3):
//   subscribe   → subscribed, then our own subscribe (the user's client approves it)
//   probe       → available (so the user sees the component online)
//   unsubscribe → unsubscribed; unsubscribed → forget the user
//   available / unavailable → track the resource
import xml, { type Element } from "@xmpp/xml";
import { bare, parseJid } from "../../jid.js";

export interface PresenceTracker {
  /**
   * Handles a presence stanza addressed to the component. Returns the stanzas to send back
   * (never throws); only local users (at `userDomain`) are tracked or answered with a subscription.
   */
  handle(stanza: Element): Element[];
  isOnline(user: string): boolean;
  /** Probes to send for these bare JIDs (after connecting, RFC 6121 §4.3). */
  probes(users: Iterable<string>): Element[];
  /** Forgets everyone: after a disconnect, every presence we knew may be stale. */
  clear(): void;
  /** Called with a bare JID when it goes from offline to online. */
  onOnline(listener: (user: string) => void): () => void;
}

export function createPresenceTracker(options: { componentDomain: string; userDomain: string }): PresenceTracker {
  const { componentDomain } = options;
  const online = new Map<string, Set<string>>();
  const listeners = new Set<(user: string) => void>();

  const reply = (to: string, type?: string): Element => xml("presence", { from: componentDomain, to, ...(type ? { type } : {}) });

  function available(user: string, resource: string): void {
    let set = online.get(user);
    if (!set) {
      set = new Set();
      online.set(user, set);
    }
    const wasOffline = set.size === 0;
    set.add(resource);
    if (wasOffline) for (const listener of listeners) listener(user);
  }

  function unavailable(user: string, resource: string | undefined): void {
    const set = online.get(user);
    if (!set) return;
    // A bare-JID unavailable (the answer to a probe for an offline user) means no resource is on.
    if (resource) set.delete(resource);
    else set.clear();
    if (set.size === 0) online.delete(user);
  }

  return {
    handle(stanza) {
      const from = parseJid(stanza.attrs.from);
      // Presence to user@component (not the bare domain) is not ours to answer.
      const to = parseJid(stanza.attrs.to);
      if (!from || !to || to.local) return [];
      const user = bare(from);
      const local = from.local !== "" && from.domain === options.userDomain;
      switch (stanza.attrs.type) {
        case undefined:
          if (local) available(user, from.resource);
          return [];
        case "unavailable":
          unavailable(user, from.resource || undefined);
          return [];
        case "subscribe":
          // Remote users get no subscription: we push mail to local users only.
          if (!local) return [reply(user, "unsubscribed")];
          return [reply(user, "subscribed"), reply(user, "subscribe"), reply(user)];
        case "probe":
          return local ? [reply(user)] : [reply(user, "unsubscribed")];
        case "unsubscribe":
          return [reply(user, "unsubscribed")];
        case "unsubscribed":
          unavailable(user, undefined);
          return [];
        default:
          // subscribed (the user approved us) needs no answer; errors are not answered (RFC 6120 §8.3.1).
          if (stanza.attrs.type === "error") unavailable(user, undefined);
          return [];
      }
    },
    isOnline: (user) => (online.get(user)?.size ?? 0) > 0,
    probes: (users) => [...users].map((user) => xml("presence", { from: componentDomain, to: user, type: "probe" })),
    clear: () => online.clear(),
    onOnline(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
