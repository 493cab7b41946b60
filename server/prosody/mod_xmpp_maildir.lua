-- mod_xmpp_maildir: copy messages to the xmpp-maildir component, which stores them as mail.
--
--   modules_enabled = { "xmpp_maildir" }
--   xmpp_maildir_component = "archive.example.org"
--
-- What is copied (see docs/protocol.md):
--   * every message that mod_offline is about to store (type chat, normal or none), reason "offline";
--   * every normal or typeless message delivered to an online user, reason "normal".
-- With xmpp_maildir_chat_history = true (run the component with --chat-history; docs/chat-history.md):
--   * every chat delivered live to a local user, reason "chat";
--   * every chat a local user sends (to anyone), reason "sent", including receipts, markers and
--     retractions without a body, which flag or annotate the archived original.
-- With xmpp_maildir_groupchat = true (component --groupchat):
--   * every groupchat message a room delivers to a local occupant, once per user however many
--     resources are joined, reason "groupchat" (own messages are archived from the room's echo).
--     Retractions without a body are copied too, among them a moderator's (XEP-0425).
-- Never copied: headlines, errors, anything to or from the component (no loops), carbons and
-- archive results (the user's own server talking to them), and chat-history copies of messages
-- that ask not to be stored (XEP-0334 <no-store/>, <no-permanent-store/>).
-- Nothing here changes delivery: mod_offline still stores, and online users still receive.
--
-- Delivery to the component is at-least-once. Each copy is written to Prosody's storage (the
-- "xmpp_maildir_outbox" store) before it is sent, and deleted only when the component answers
-- with an IQ result, which it sends once the mail is durably in the Maildir. Unconfirmed copies
-- are re-sent in order when the component (re)connects, after a `wait` error (with backoff),
-- after a timeout, and when Prosody restarts. The component drops repeats by the copy's id.

local st = require "util.stanza";
local jid_bare = require "util.jid".bare;
local jid_host = require "util.jid".host;
local datetime = require "util.datetime";
local new_id = require "util.id".medium;
local new_cache = require "util.cache".new;

local bare_sessions = prosody.bare_sessions;
local full_sessions = prosody.full_sessions;

local component = module:get_option_string("xmpp_maildir_component");
if not component then
	module:log("error", "xmpp_maildir_component is not set; set it to the component's domain, e.g. \"archive.%s\"", module.host);
	return;
end

local xmlns_copy = "urn:xmpp-maildir:copy:0";
local xmlns_forward = "urn:xmpp:forward:0";
local xmlns_delay = "urn:xmpp:delay";

-- Seconds to wait for a confirmation before sending the copy again (the component dedupes).
local confirm_timeout = module:get_option_number("xmpp_maildir_confirm_timeout", 30);
-- Copies sent and not yet confirmed, at most: keeps a reconnect with a long backlog from
-- flooding the component, which would only answer `wait` to the excess.
local window = module:get_option_number("xmpp_maildir_window", 64);
-- Backoff after a `wait` error or an unreachable component: doubling, capped.
local retry_min = module:get_option_number("xmpp_maildir_retry_min", 1);
local retry_max = module:get_option_number("xmpp_maildir_retry_max", 60);
-- Chat history: the module cannot know how the component is configured, so it is told here too.
-- If only the module has it on, the component confirms these copies without storing them.
local chat_history = module:get_option_boolean("xmpp_maildir_chat_history", false);
local groupchat = module:get_option_boolean("xmpp_maildir_groupchat", false);

-- One entry per unconfirmed copy, keyed by the copy id: { seq = n, copy = <preserialized iq> }.
local outbox = module:open_store("xmpp_maildir_outbox");
-- The outbox is only at-least-once if copies left unconfirmed by an earlier run can be found again
-- at start, which takes the keyval store's users(). Without it they would sit in storage, never
-- re-sent: refuse to load, as mod_mam refuses a store without find(), rather than run without
-- the guarantee. internal and sql have users(); none, for one, does not.
if not outbox.users then
	error("mod_" .. (outbox._provided_by or outbox.name and "storage_" .. outbox.name or "storage_?")
		.. " cannot list the xmpp_maildir_outbox store (no users()), so copies left unconfirmed by a"
		.. " restart would never be re-sent; refusing to load. Use a storage driver that can, e.g."
		.. " storage = { xmpp_maildir_outbox = \"internal\" } (https://prosody.im/doc/storage)");
end

local pending = {};        -- id -> { seq, iq }
-- Ids waiting to be sent, in seq order, at queue[qhead..qtail]. Explicit bounds, never `#`:
-- the length operator is unreliable on a table with holes, which popping from the front makes.
local queue = {};
local qhead, qtail = 1, 0;
local inflight = {};       -- id -> timer
local inflight_count = 0;
local next_seq = 0;
local paused = false;
local retry_delay = retry_min;
local retry_timer = nil;

local pump; -- forward declaration

local function queue_length() return qtail - qhead + 1; end

-- Puts ids back at the front of the queue, keeping seq order. Ids confirmed meanwhile (a late
-- result for a copy that had already been put back) are dropped here: they have no pending
-- entry any more, and sorting on them would raise an error in the middle of the event handler.
local function requeue(ids)
	local merged = {};
	for _, id in ipairs(ids) do
		if pending[id] then merged[#merged + 1] = id; end
	end
	for i = qhead, qtail do
		local id = queue[i];
		if pending[id] then merged[#merged + 1] = id; end
	end
	table.sort(merged, function (a, b) return pending[a].seq < pending[b].seq; end);
	queue, qhead, qtail = merged, 1, #merged;
end

local function take_inflight()
	local ids = {};
	for id, timer in pairs(inflight) do
		timer:stop();
		if pending[id] then ids[#ids + 1] = id; end
	end
	inflight, inflight_count = {}, 0;
	return ids;
end

local function pause_and_retry(why)
	if paused then return; end
	paused = true;
	requeue(take_inflight());
	module:log("info", "Pausing copies to %s (%s); %d waiting, retrying in %ds", component, why, queue_length(), retry_delay);
	retry_timer = module:add_timer(retry_delay, function ()
		retry_timer = nil;
		paused = false;
		pump();
	end);
	retry_delay = math.min(retry_delay * 2, retry_max);
end

local function resume(why)
	if retry_timer then retry_timer:stop(); retry_timer = nil; end
	paused = false;
	retry_delay = retry_min;
	requeue(take_inflight());
	module:log("debug", "Resuming copies to %s (%s); %d waiting", component, why, queue_length());
	pump();
end

local function send_one(id)
	local entry = pending[id];
	inflight[id] = module:add_timer(confirm_timeout, function ()
		if inflight[id] then
			module:log("warn", "Copy %s not confirmed within %ds", id, confirm_timeout);
			pause_and_retry("confirmation timed out");
		end
	end);
	inflight_count = inflight_count + 1;
	module:send(st.clone(entry.iq));
end

function pump()
	while not paused and inflight_count < window and qhead <= qtail do
		local id = queue[qhead];
		queue[qhead] = nil;
		qhead = qhead + 1;
		if pending[id] and not inflight[id] then send_one(id); end
	end
	if qhead > qtail then queue, qhead, qtail = {}, 1, 0; end
end

local function done(id)
	local timer = inflight[id];
	if timer then
		timer:stop();
		inflight[id] = nil;
		inflight_count = inflight_count - 1;
	end
	pending[id] = nil;
	local ok, err = outbox:set(id, nil);
	if not ok and err then
		module:log("error", "Could not remove confirmed copy %s from the outbox: %s", id, err);
	end
end

local function enqueue(id, seq, iq)
	pending[id] = { seq = seq, iq = iq };
	qtail = qtail + 1;
	queue[qtail] = id;
	if seq >= next_seq then next_seq = seq + 1; end
end

local function is_copyable(stanza)
	local t = stanza.attr.type;
	if t ~= nil and t ~= "normal" and t ~= "chat" then return false; end
	if jid_host(stanza.attr.to) == component or jid_host(stanza.attr.from) == component then return false; end
	return true;
end

local function is_normal(stanza)
	local t = stanza.attr.type;
	return t == nil or t == "normal";
end

local xmlns_hints = "urn:xmpp:hints";
local xmlns_carbons = "urn:xmpp:carbons:2";
local xmlns_receipts = "urn:xmpp:receipts";
local xmlns_markers = "urn:xmpp:chat-markers:0";

-- Anything a chat archive should keep: a body, or a retraction (XEP-0424, current and 0.x forms);
-- and, for what the user sends, a receipt (XEP-0184) or marker (XEP-0333), which flag the original.
-- Chat states alone (typing notifications) are the bulk of bodiless chat traffic and never copied.
local function worth_archiving(stanza, sent)
	if stanza:get_child("body") then return true; end
	if stanza:get_child("retract", "urn:xmpp:message-retract:1") or stanza:get_child("apply-to", "urn:xmpp:fasten:0") then return true; end
	if sent then
		return stanza:get_child("received", xmlns_receipts) ~= nil or stanza:get_child("displayed", xmlns_markers) ~= nil
			or stanza:get_child("acknowledged", xmlns_markers) ~= nil or stanza:get_child("received", xmlns_markers) ~= nil;
	end
	return false;
end

-- Not for a chat archive: the sender asked (XEP-0334 §4), or it is the user's own server relaying
-- their own traffic (carbons, XEP-0280; archive results, XEP-0313), which is copied where it happens.
local function chat_copyable(stanza)
	if stanza:get_child("no-store", xmlns_hints) or stanza:get_child("no-permanent-store", xmlns_hints) then return false; end
	if stanza:get_child("sent", xmlns_carbons) or stanza:get_child("received", xmlns_carbons) then return false; end
	if stanza.attr.from and stanza.attr.to and jid_bare(stanza.attr.from) == jid_bare(stanza.attr.to) then return false; end
	if jid_host(stanza.attr.to) == component or jid_host(stanza.attr.from) == component then return false; end
	return true;
end

local function send_copy(stanza, reason)
	-- Clone before anything downstream (mod_offline, carbons) touches the stanza, and state the
	-- namespace: XEP-0297 requires the forwarded stanza to carry it.
	local original = st.clone(stanza);
	original.attr.xmlns = "jabber:client";
	local id = "xmd-" .. new_id();
	local iq = st.iq({ type = "set", from = module.host, to = component, id = id })
		:tag("copy", { xmlns = xmlns_copy, reason = reason })
			:tag("forwarded", { xmlns = xmlns_forward })
				:tag("delay", { xmlns = xmlns_delay, stamp = datetime.datetime() }):up()
				:add_child(original);
	local seq = next_seq;
	-- Durable before it is sent: if Prosody stops now, the copy is sent after the restart.
	local ok, err = outbox:set(id, { seq = seq, copy = st.preserialize(iq) });
	if not ok then
		module:log("error", "Could not store copy of message %s to %s in the outbox (%s); sending it unprotected",
			stanza.attr.id or "(no id)", stanza.attr.to or "", tostring(err));
	end
	enqueue(id, seq, iq);
	pump();
end

-- The component's answers: an IQ result (stored), or an error.
module:hook("iq/host", function (event)
	local stanza = event.stanza;
	local t = stanza.attr.type;
	local id = stanza.attr.id;
	if (t ~= "result" and t ~= "error") or stanza.attr.from ~= component or not id or not pending[id] then return; end
	if t == "result" then
		done(id);
		retry_delay = retry_min;
		pump();
		return true;
	end
	local err_type, condition, text = stanza:get_error();
	if err_type == "wait" then
		-- Disk full, shutting down, or (from Prosody itself) the component is not connected.
		pause_and_retry(("%s: %s"):format(condition or "wait", text or ""));
	else
		-- A permanent refusal: resending cannot help. The message itself was delivered or
		-- stored offline as usual; only the archive copy is given up.
		module:log("error", "Component refused copy %s (%s/%s: %s); removing it from the outbox",
			id, err_type or "?", condition or "?", text or "");
		done(id);
		pump();
	end
	return true;
end, 10);

-- Messages that are about to be stored offline. mod_offline stores at priority -1; we run first
-- and return nothing, so storage goes on exactly as before.
module:hook("message/offline/handle", function (event)
	local stanza = event.stanza;
	if is_copyable(stanza) then send_copy(stanza, "offline"); end
end, 10);

-- Normal messages that will be delivered live. mod_message delivers at priority -1 and, when no
-- resource is available, falls through to message/offline/handle (copied above instead).
local function online(bare)
	local user = bare_sessions[bare];
	return user ~= nil and user.top_resources ~= nil;
end

module:hook("message/bare", function (event)
	local stanza = event.stanza;
	local to = stanza.attr.to;
	if not (to and online(to)) then return; end
	if is_normal(stanza) and is_copyable(stanza) then
		send_copy(stanza, "normal");
	elseif chat_history and stanza.attr.type == "chat" and chat_copyable(stanza) and worth_archiving(stanza, false) then
		send_copy(stanza, "chat");
	end
end, 10);

-- One copy per room message and user: a user with two joined resources receives each message
-- twice. Remembered briefly, by user, room and the message's ids: the last 1000 deliveries
-- (util.cache drops the oldest entry; its get() does not reorder, so this is first-in first-out).
local recent_groupchat = new_cache(1000);
local function first_groupchat_delivery(stanza)
	local stanza_id = stanza:get_child("stanza-id", "urn:xmpp:sid:0");
	local key = table.concat({ jid_bare(stanza.attr.to), stanza.attr.from or "", stanza.attr.id or "",
		stanza_id and stanza_id.attr.id or "", stanza:get_child_text("body") or "" }, "\0");
	if recent_groupchat:get(key) then return false; end
	recent_groupchat:set(key, true);
	return true;
end

module:hook("message/full", function (event)
	local stanza = event.stanza;
	local to = stanza.attr.to;
	local live = full_sessions[to] or online(jid_bare(to));
	if not live then return; end
	local t = stanza.attr.type;
	if is_normal(stanza) and is_copyable(stanza) then
		send_copy(stanza, "normal");
	elseif t == "chat" and chat_history and chat_copyable(stanza) and worth_archiving(stanza, false) then
		send_copy(stanza, "chat");
	elseif t == "groupchat" and groupchat and full_sessions[to] and worth_archiving(stanza, false)
		and chat_copyable(stanza) and first_groupchat_delivery(stanza) then
		-- XEP-0045 §7.4: the room sends each message from room@service/nick to every occupant's
		-- full JID; this is the copy for this (local) occupant. Besides messages with a body, the
		-- room's retractions: a moderator's (XEP-0425, from the room's bare JID) or the author's.
		send_copy(stanza, "groupchat");
	end
end, 10);

-- What a local user sends, seen before routing (Prosody fires pre-message/* for c2s stanzas on
-- the sender's host). Low priority: a blocking handler (mod_blocklist, privacy) that stops the
-- message runs first, and then nothing is copied.
local function outgoing(event)
	local origin, stanza = event.origin, event.stanza;
	if not chat_history or origin.type ~= "c2s" or stanza.attr.type ~= "chat" or event.to_self then return; end
	if not stanza.attr.to then return; end
	if not (chat_copyable(stanza) and worth_archiving(stanza, true)) then return; end
	send_copy(stanza, "sent");
end
module:hook("pre-message/bare", outgoing, -1);
module:hook("pre-message/full", outgoing, -1);

-- The component host's events tell us when the component (re)connects or goes away.
local function watch_component_host()
	local host = prosody.hosts[component];
	if not host then return; end
	module:hook_object_event(host.events, "component-authenticated", function () resume("component connected"); end);
	module:hook_object_event(host.events, "component-disconnected", function () pause_and_retry("component disconnected"); end);
end
watch_component_host();
module:hook_global("host-activated", function (host)
	if host == component then watch_component_host(); end
end);

-- Copies left unconfirmed by an earlier run (or a crash): send them again, oldest first.
local function load_outbox()
	local stored = {};
	for id in outbox:users() do stored[#stored + 1] = id; end
	local ids = {};
	for _, id in ipairs(stored) do
		local data = outbox:get(id);
		if data and data.copy then
			ids[#ids + 1] = { id = id, seq = data.seq or 0, iq = st.deserialize(data.copy) };
		end
	end
	table.sort(ids, function (a, b) return a.seq < b.seq; end);
	for _, e in ipairs(ids) do enqueue(e.id, e.seq, e.iq); end
	if #ids > 0 then
		module:log("info", "Re-sending %d unconfirmed copies to %s", #ids, component);
	end
end
load_outbox();
-- Give the component a moment to connect after a server start before the first attempt; the
-- backoff takes over from there.
module:add_timer(1, function () pump(); end);

module:log("info", "Copying offline and normal messages%s%s to %s",
	chat_history and ", chats (received and sent)" or "", groupchat and ", group chat" or "", component);
