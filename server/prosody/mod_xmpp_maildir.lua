-- mod_xmpp_maildir: copy messages to the xmpp-maildir component, which stores them as mail.
--
--   modules_enabled = { "xmpp_maildir" }
--   xmpp_maildir_component = "archive.example.org"
--
-- What is copied (see docs/protocol.md):
--   * every message that mod_offline is about to store (type chat, normal or none), reason "offline";
--   * every normal or typeless message delivered to an online user, reason "normal".
-- Never copied: headlines, errors, groupchat, and anything to or from the component (no loops).
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

-- One entry per unconfirmed copy, keyed by the copy id: { seq = n, reason = "...", copy = <preserialized iq> }.
local outbox = module:open_store("xmpp_maildir_outbox");

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
	if is_normal(stanza) and is_copyable(stanza) and stanza.attr.to and online(stanza.attr.to) then
		send_copy(stanza, "normal");
	end
end, 10);

module:hook("message/full", function (event)
	local stanza = event.stanza;
	if not (is_normal(stanza) and is_copyable(stanza)) then return; end
	local to = stanza.attr.to;
	if full_sessions[to] or online(jid_bare(to)) then
		send_copy(stanza, "normal");
	end
end, 10);

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
	if not outbox.users then
		module:log("warn", "This storage driver cannot list stored copies; unconfirmed copies from before a restart are not re-sent");
		return;
	end
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

module:log("info", "Copying offline and normal messages to %s", component);
