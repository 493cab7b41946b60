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
-- A copy is an IQ set from the host to the component carrying a XEP-0297 <forwarded/> of the
-- original stanza; the component answers with an IQ result once the mail is safely in new/.

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
-- How long to wait for the component's confirmation before logging the copy as unconfirmed.
local confirm_timeout = module:get_option_number("xmpp_maildir_confirm_timeout", 60);

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
	local iq = st.iq({ type = "set", from = module.host, to = component, id = "xmd-" .. new_id() })
		:tag("copy", { xmlns = xmlns_copy, reason = reason })
			:tag("forwarded", { xmlns = xmlns_forward })
				:tag("delay", { xmlns = xmlns_delay, stamp = datetime.datetime() }):up()
				:add_child(original);
	module:send_iq(iq, nil, confirm_timeout):next(function ()
		module:log("debug", "Copy %s of message %s to %s confirmed", iq.attr.id, stanza.attr.id or "(no id)", stanza.attr.to or "");
	end, function (err)
		module:log("warn", "Copy %s of message %s to %s not confirmed: %s", iq.attr.id, stanza.attr.id or "(no id)",
			stanza.attr.to or "", tostring(err and (err.text or err.condition) or err));
	end);
end

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

module:log("info", "Copying offline and normal messages to %s", component);
