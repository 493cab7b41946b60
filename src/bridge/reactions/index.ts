export { createReactions, type Reactions, type ReactionMailer, type ReactionsOptions } from "./reactions.js";
export { openSentLinks, SENT_LINKS_FILE, MAX_SENT_LINKS, type SentLink, type SentLinks } from "./links.js";
export { readReactionMail, parseEmojis, type ReactionMail } from "./mail-in.js";
export { matchByMessageId, matchByStanzaId, type Match } from "./match.js";
export { NS_REACTIONS, reactionStanza, readStanzaReaction, type StanzaReaction } from "./stanza.js";
