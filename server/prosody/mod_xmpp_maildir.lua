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
--     retractions and reactions without a body, which flag or annotate the archived original.
-- With xmpp_maildir_groupchat = true (component --groupchat):
--   * every groupchat message a room delivers to a local occupant, once per user however many
--     resources are joined, reason "groupchat" (own messages are archived from the room's echo,
--     marked own="true").
--     Retractions without a body are copied too, among them a moderator's (XEP-0425).
-- Never copied: headlines, errors, anything to or from the component (no loops), carbons and
-- archive results (the user's own server talking to them), and chat-history copies of messages
-- that ask not to be stored (XEP-0334 <no-store/>, <no-permanent-store/>).
-- Nothing here changes delivery: mod_offline still stores, and online users still receive.
--
-- Delivery to the component is at-least-once. Each copy is written to the outbox before it is
-- sent, and forgotten only when the component answers with an IQ result, which it sends once the
-- mail is durably in the Maildir. Unconfirmed copies are re-sent in order when the component
-- (re)connects, after a `wait` error (with backoff), after a timeout, and when Prosody restarts.
-- The component drops repeats by the copy's id.
--
-- Batches (copy protocol v1, docs/protocol.md "Batches (v1)"): the module asks the component with
-- disco#info on every connection (and on load); if it lists urn:xmpp-maildir:copy:1, the copies
-- waiting at the end of each event-loop turn go in batches of up to 16 and a quarter of the window (a
-- copy waiting alone goes as a v0 copy). Until the answer, with an older component, or after a batch is refused as
-- unknown, copies go singly (v0), with the same ids.
--
-- The outbox (docs/protocol.md, "The module's outbox"):
--   * by default one append-only log per host, DATA/<host>/xmpp_maildir_outbox.log: a record per
--     copy, a small record per confirmation, written together once per event-loop turn;
--   * with xmpp_maildir_outbox_store = "storage", or when `storage` names a driver for the
--     "xmpp_maildir_outbox" store (e.g. "sql"), Prosody's storage API: one item per copy.

local st = require "util.stanza";
local jid_bare = require "util.jid".bare;
local jid_host = require "util.jid".host;
local datetime = require "util.datetime";
local new_id = require "util.id".medium;
local new_cache = require "util.cache".new;
local datamanager = require "util.datamanager";
local hashes = require "util.hashes";
local pposix = require "util.pposix";
local xml_parse = require "util.xml".parse;

local bare_sessions = prosody.bare_sessions;
local full_sessions = prosody.full_sessions;

local component = module:get_option_string("xmpp_maildir_component");
if not component then
	module:log("error", "xmpp_maildir_component is not set; set it to the component's domain, e.g. \"archive.%s\"", module.host);
	return;
end

local xmlns_copy = "urn:xmpp-maildir:copy:0";
-- Version 1: several copies in one IQ (docs/protocol.md, "Batches"), once the component says it
-- takes them (disco#info, asked on every connection).
local xmlns_copy_batch = "urn:xmpp-maildir:copy:1";
local xmlns_disco_info = "http://jabber.org/protocol/disco#info";
local xmlns_forward = "urn:xmpp:forward:0";
local xmlns_delay = "urn:xmpp:delay";

-- Seconds to wait for a confirmation before sending the copy again (the component dedupes).
local confirm_timeout = module:get_option_number("xmpp_maildir_confirm_timeout", 30);
-- Copies sent and not yet confirmed, at most: keeps a reconnect with a long backlog from
-- flooding the component, which would only answer `wait` past what it queues (64 writing and
-- 1024 waiting, src/archive/handler.ts). 256: with 64 the copies in flight divided by the time
-- each takes to be stored capped the rate below what the component can store (Little's law,
-- bench:e2e in docs/performance.md); with 256 the component's CPU is the limit instead.
local window = module:get_option_number("xmpp_maildir_window", 256);
-- Backoff after a `wait` error or an unreachable component: doubling, capped.
local retry_min = module:get_option_number("xmpp_maildir_retry_min", 1);
local retry_max = module:get_option_number("xmpp_maildir_retry_max", 60);
-- Chat history: the module cannot know how the component is configured, so it is told here too.
-- If only the module has it on, the component confirms these copies without storing them.
local chat_history = module:get_option_boolean("xmpp_maildir_chat_history", false);
local groupchat = module:get_option_boolean("xmpp_maildir_groupchat", false);

-- Which outbox: an admin who gave the store a driver (storage = { xmpp_maildir_outbox = "sql" })
-- keeps getting it; otherwise the log.
local storage_config = module:get_option("storage");
local store_default = type(storage_config) == "table" and storage_config.xmpp_maildir_outbox and "storage" or "log";
local outbox_store = module:get_option_string("xmpp_maildir_outbox_store", store_default);
if outbox_store ~= "log" and outbox_store ~= "storage" then
	error("xmpp_maildir_outbox_store = \"" .. outbox_store .. "\" is not known; use \"log\" (the default) or \"storage\"");
end
-- The log is rewritten with only its unconfirmed copies once it is at least this big and they
-- take at most a quarter of it: the cost of a rewrite stays a fraction of what was appended.
local compact_size = module:get_option_number("xmpp_maildir_outbox_compact_size", 1024 * 1024);
-- Batches: at most 16 copies and a quarter of the window (the protocol allows 64), so that
-- several batches are in flight at once: the component answers a batch when its slowest copy is
-- stored, and one batch as big as the window left the pipe empty meanwhile (bench:e2e,
-- docs/performance.md). And no more than this many bytes of outbox records once a batch has one
-- copy, so a batch of large copies stays a modest stanza.
local batch_max = math.max(1, math.min(16, math.floor(window / 4)));
-- Batches are used when the component takes them; false keeps one IQ per copy (v0) regardless.
local batching_allowed = module:get_option_boolean("xmpp_maildir_batching", true);
local batch_max_bytes = 1024 * 1024;

-- id -> { seq, reason, own, fwd }: fwd is the copy's <forwarded/>, serialised once when the copy
-- is made; the outbox record and every send (v0 or in a batch) are built around it as strings.
local pending = {};
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
-- Batching is on while the connected component has said it takes urn:xmpp-maildir:copy:1.
local batching = false;
local batches = {};        -- batch IQ id -> { ids = { copy id, ... }, timer }
local disco_id = nil;      -- the id of the disco#info query awaiting its answer
local flush_timer = nil;   -- sends what is waiting at the end of this event-loop turn

-- Copy and batch ids: a random part drawn once per load of the module and a counter, unique
-- across restarts and reloads as new_id() per copy was (the component dedupes by id), without
-- reading random bytes and base64-encoding them for every copy. Only [%w_-] and digits: never
-- needs escaping, never holds a space (the outbox's "-" records list ids separated by spaces).
local id_base, id_count = new_id(), 0;
local function next_id(kind)
	id_count = id_count + 1;
	return kind .. id_base .. "-" .. id_count;
end

local pump; -- forward declaration
local disco_answer, batch_answer; -- forward declarations
local outbox_remove; -- forward declaration

-- A copy may be sent once it is in the outbox: it joins the end of the queue.
local function release(id)
	if not pending[id] then return; end
	qtail = qtail + 1;
	queue[qtail] = id;
end


-- The copy as XML text. Built by concatenation around the <forwarded/> serialised once in
-- send_copy: Prosody's serialiser escapes every text node with a Lua gsub, the largest per-copy
-- cost the module had (docs/performance.md), and the copy used to be serialised twice (for the
-- outbox and again on the wire) after being cloned.
-- serialiser: begin (test/integration/prosody-serialiser.test.ts loads the lines between the
-- markers on their own, with only string, table and pairs, and compares to_xml() with tostring())
-- XML escaping, the same output as util.stanza's xml_escape. That one is one gsub of the class
-- ['&<>"] over the whole text: Lua's matcher is tried at every byte, about 200 instructions per
-- byte, and serialising the message with it was half of what the module added to Prosody's cost
-- per message (callgrind, docs/performance.md). Here each of the five is looked for with a plain
-- find (memchr): text without any is returned as it is, and each one present is replaced by a loop
-- of plain finds, at a cost per occurrence rather than per byte. "&" first: the others bring one.
local s_find, s_sub = string.find, string.sub;
local t_concat = table.concat;
local escapes = { { "&", "&amp;" }, { "'", "&apos;" }, { "\"", "&quot;" }, { "<", "&lt;" }, { ">", "&gt;" } };
local function replace_plain(str, char, with, at)
	local parts, n, pos = {}, 0, 1;
	repeat
		n = n + 1;
		parts[n] = s_sub(str, pos, at - 1);
		n = n + 1;
		parts[n] = with;
		pos = at + 1;
		at = s_find(str, char, pos, true);
	until not at;
	parts[n + 1] = s_sub(str, pos);
	return t_concat(parts);
end
local function escape(str)
	if not (s_find(str, "&", 1, true) or s_find(str, "'", 1, true) or s_find(str, "\"", 1, true)
		or s_find(str, "<", 1, true) or s_find(str, ">", 1, true)) then
		return str;
	end
	for i = 1, 5 do
		local e = escapes[i];
		local at = s_find(str, e[1], 1, true);
		if at then str = replace_plain(str, e[1], e[2], at); end
	end
	return str;
end

-- Attribute values repeat (JIDs, types, namespaces) and each escape() is five C calls: the short
-- ones are remembered, and so is which attribute names are namespaced ("ns\1name"). Both tables
-- are emptied when they reach `memo_max` entries, so what a stranger sends cannot grow them.
local memo_max = 2048;
local escaped_attr, escaped_attrs = {}, 0;
local function escape_attr(v)
	local e = escaped_attr[v];
	if e then return e; end
	e = escape(v);
	if #v <= 256 then
		if escaped_attrs >= memo_max then escaped_attr, escaped_attrs = {}, 0; end
		escaped_attr[v] = e;
		escaped_attrs = escaped_attrs + 1;
	end
	return e;
end
local namespaced, namespaced_count = {}, 0;
local function is_namespaced(k)
	local ns = namespaced[k];
	if ns == nil then
		ns = s_find(k, "\1", 1, true) ~= nil;
		if namespaced_count >= memo_max then namespaced, namespaced_count = {}, 0; end
		namespaced[k] = ns;
		namespaced_count = namespaced_count + 1;
	end
	return ns;
end

-- A stanza as XML text, byte for byte what tostring() gives on Prosody 0.12 and 13 (util.stanza's
-- _dostring, the same in both: attributes in pairs() order, an xmlns left out where it equals the
-- parent's, namespaced attributes as "ns\1name" declared as xmlns:nsN), with the escaping above.
local function serialise(t, buf, n, parentns)
	local name = t.name;
	-- Pieces go into buf one by one: joining them here would make a string per attribute and tag.
	buf[n + 1], buf[n + 2] = "<", name;
	n = n + 2;
	local nsid = 0;
	for k, v in pairs(t.attr) do
		if is_namespaced(k) then
			local ns, attrk = k:match("^([^\1]*)\1?(.*)$");
			nsid = nsid + 1;
			n = n + 1;
			buf[n] = " xmlns:ns" .. nsid .. "='" .. escape(ns) .. "' " .. "ns" .. nsid .. ":" .. attrk .. "='" .. escape(v) .. "'";
		elseif not (k == "xmlns" and v == parentns) then
			buf[n + 1], buf[n + 2], buf[n + 3], buf[n + 4] = " ", k, "='", escape_attr(v);
			buf[n + 5] = "'";
			n = n + 5;
		end
	end
	local len = #t;
	n = n + 1;
	if len == 0 then
		buf[n] = "/>";
		return n;
	end
	buf[n] = ">";
	local xmlns = t.attr.xmlns;
	for i = 1, len do
		local child = t[i];
		if child.name then
			n = serialise(child, buf, n, xmlns);
		else
			n = n + 1;
			buf[n] = escape(child);
		end
	end
	buf[n + 1], buf[n + 2], buf[n + 3] = "</", name, ">";
	return n + 3;
end
-- The stanza alone (the test's entry point; send_copy hands serialise() a buffer that already
-- holds the <forwarded/> around it).
local function to_xml(stanza)
	local buf = {};
	serialise(stanza, buf, 0, nil);
	return t_concat(buf);
end
-- serialiser: end
local iq_head = "<iq type='set' from='" .. escape(module.host) .. "' to='" .. escape(component) .. "' id='";
local attrs_text = { [false] = {}, [true] = {} };
local function copy_attrs(entry)
	local own = entry.own == true;
	local text = attrs_text[own][entry.reason];
	if not text then
		text = " reason='" .. escape(entry.reason) .. "'" .. (own and " own='true'" or "") .. ">";
		attrs_text[own][entry.reason] = text;
	end
	return text;
end
-- The v0 IQ: what the outbox keeps (the same text as tostring() of the IQ, so older and newer
-- modules read each other's outbox) and what is sent for a single copy. entry.xid: the id escaped.
-- `prefix` (the outbox record's "<id> <seq> ") goes in front in the same concatenation: one string
-- of the copy's size, not two; each string the module makes is garbage Prosody's collector must
-- pay for (docs/performance.md).
local function v0_xml(entry, prefix)
	return (prefix or "") .. iq_head .. entry.xid .. "'><copy xmlns='" .. xmlns_copy .. "'" .. copy_attrs(entry) .. entry.fwd .. "</copy></iq>";
end

local function remember(id, entry)
	entry.xid = escape(id);
	pending[id] = entry;
	if entry.seq >= next_seq then next_seq = entry.seq + 1; end
end

-- A copy read back from the outbox (an IQ stanza, as any version of the module wrote it).
local function entry_of_iq(seq, iq)
	local copy = iq and iq:get_child("copy", xmlns_copy);
	local fwd = copy and copy:get_child("forwarded", xmlns_forward);
	if not (fwd and copy.attr.reason) then return nil; end
	return { seq = seq, reason = copy.attr.reason, own = copy.attr.own == "true" or nil, fwd = tostring(fwd) };
end

----------------------------------------------------------------------------------------------------
-- The outbox, log: one file per host, appended to and read back only at start.
--
-- A record is a header line "<kind> <length> <sha1 of payload, hex>", the payload, and "\n".
--   "+"  a copy:        "<id> <seq> <the IQ as XML>"
--   "-"  confirmed:     "<id>" or "<id> <id> ..." (every confirmation of one event-loop turn in one
--                       record since 2026-12-02: one SHA-1 and one header per turn instead of per
--                       copy; ids never hold a space. A module from before reads such a record as
--                       the confirmation of an id it does not know, so after a downgrade those
--                       copies are sent once more and the component drops them by id.)
-- Appends go through util.pposix.atomic_append (one write(2), and what it wrote is cut again if
-- the write fails, so a failed append never leaves half a record between two whole ones).
--
-- When: a copy's record is written at once, before the copy is sent and before mod_offline
-- (priority -1) stores the message, as the storage API's set() was; a copy on the wire, or a
-- message in mod_offline's store, always has its record. Confirmations are collected and written
-- once per turn of Prosody's event loop (a timer of 0 s runs after every socket that was ready
-- has been read), or with the next copy, whichever comes first: a lost "-" record only means one
-- re-send after a restart, which the component drops by id.
--
-- Durability: the kernel has a record once it is written, so it survives Prosody being killed or
-- crashing. Neither Prosody 0.12 nor 13 offers fsync to Lua (util.pposix has none, and Prosody's
-- own file storage, mod_offline's included, never syncs), so like those stores the log can lose
-- its last seconds if the machine itself loses power. There is no fsync to group-commit: what the
-- log saves is the file created, written, renamed and deleted per copy.
--
-- At start the log is replayed: "+" adds, "-" removes. A record whose header does not parse, that
-- is shorter than its length, or whose checksum does not match, is a torn tail (a write cut by a
-- crash): it and anything after it are cut, never parsed as a copy. Then the log is rewritten with
-- the unconfirmed copies only.
----------------------------------------------------------------------------------------------------
local log_path = datamanager.getpath(nil, module.host, "xmpp_maildir_outbox", "log", true);
local log_file = nil;      -- open for appending
local log_size = 0;        -- bytes in the file
local live_bytes = 0;      -- bytes of the "+" records of unconfirmed copies
local record_bytes = {};   -- id -> size of its "+" record, while unconfirmed
local log_records = {};    -- ids confirmed and not yet written (one "-" record per append)
local commit_timer = nil;  -- writes them at the end of this turn

local function log_record(kind, payload)
	return kind .. " " .. #payload .. " " .. hashes.sha1(payload, true) .. "\n" .. payload .. "\n";
end

-- Parses the log's bytes; returns the copies still unconfirmed, in order, and where the good
-- records end (less than #data when a torn tail follows).
local function parse_log(data)
	local copies, order = {}, {};
	local pos = 1;
	while pos <= #data do
		local eol = data:find("\n", pos, true);
		if not eol then break; end
		local kind, len, sum = data:sub(pos, eol - 1):match("^([+-]) (%d+) (%x+)$");
		if not kind then break; end
		len = tonumber(len);
		local payload = data:sub(eol + 1, eol + len);
		if #payload ~= len or data:sub(eol + len + 1, eol + len + 1) ~= "\n"
			or hashes.sha1(payload, true) ~= sum then
			break;
		end
		if kind == "+" then
			local id, seq, copy = payload:match("^(%S+) (%d+) (.*)$");
			if not id then break; end
			copies[id] = { id = id, seq = tonumber(seq), copy = copy };
			order[#order + 1] = id;
		else
			for id in payload:gmatch("%S+") do copies[id] = nil; end
		end
		pos = eol + len + 2;
	end
	local live = {};
	for _, id in ipairs(order) do
		if copies[id] then live[#live + 1] = copies[id]; copies[id] = nil; end
	end
	return live, pos - 1;
end

-- Writes the log anew with only the unconfirmed copies (tmp file, then rename over the old one:
-- a crash in between leaves the old log, which holds the same copies).
local function rewrite_log(entries)
	local tmp_path = log_path .. ".tmp";
	local records = {};
	live_bytes, record_bytes = 0, {};
	for i, e in ipairs(entries) do
		local record = log_record("+", e.id .. " " .. e.seq .. " " .. e.copy);
		records[i] = record;
		record_bytes[e.id] = #record;
		live_bytes = live_bytes + #record;
	end
	local f, err = io.open(tmp_path, "wb");
	if not f then return nil, err; end
	local data = table.concat(records);
	local ok, write_err = f:write(data);
	if ok then ok, write_err = f:flush(); end
	f:close();
	if not ok then os.remove(tmp_path); return nil, write_err; end
	ok, err = os.rename(tmp_path, log_path);
	if not ok then os.remove(tmp_path); return nil, err; end
	if log_file then log_file:close(); end
	log_file, err = io.open(log_path, "r+b");
	if not log_file then return nil, err; end
	log_size = log_file:seek("end");
	return true;
end

local function maybe_compact()
	if log_size < compact_size or live_bytes * 4 > log_size then return; end
	local live = {};
	for id, entry in pairs(pending) do
		if record_bytes[id] then live[#live + 1] = { id = id, seq = entry.seq, copy = v0_xml(entry) }; end
	end
	table.sort(live, function (a, b) return a.seq < b.seq; end);
	local ok, err = rewrite_log(live);
	if not ok then module:log("warn", "Could not compact the outbox %s: %s", log_path, tostring(err)); end
end

-- Appends the confirmations collected so far (one record), and `record` after them if given.
local function append(record)
	local data = "";
	if log_records[1] then data = log_record("-", t_concat(log_records, " ")); end
	if record then data = data .. record; end
	log_records = {};
	if commit_timer then commit_timer:stop(); commit_timer = nil; end
	if data == "" then return true; end
	local ok, err = pposix.atomic_append(log_file, data);
	if not ok then return nil, err; end
	log_size = log_size + #data;
	maybe_compact();
	return true;
end

local log_outbox = {};

function log_outbox.add(id, entry)
	local record = log_record("+", v0_xml(entry, id .. " " .. entry.seq .. " "));
	-- Counted before the write: a compaction it triggers keeps this copy.
	record_bytes[id] = #record;
	live_bytes = live_bytes + #record;
	local ok, err = append(record);
	if not ok then
		record_bytes[id] = nil;
		live_bytes = live_bytes - #record;
		module:log("error", "Could not append copy %s to the outbox %s (%s); sending it unprotected", id, log_path, tostring(err));
	end
	release(id);
	pump();
end

function log_outbox.remove(id)
	local bytes = record_bytes[id];
	if not bytes then return; end
	record_bytes[id] = nil;
	live_bytes = live_bytes - bytes;
	log_records[#log_records + 1] = id;
	if not commit_timer then
		commit_timer = module:add_timer(0, function ()
			commit_timer = nil;
			local ok, err = append(nil);
			if not ok then module:log("warn", "Could not append confirmations to the outbox %s: %s", log_path, tostring(err)); end
		end);
	end
end

function log_outbox.load()
	local entries = {};
	local f = io.open(log_path, "rb");
	if f then
		local data = f:read("*a") or "";
		f:close();
		local good_end;
		entries, good_end = parse_log(data);
		if good_end < #data then
			module:log("warn", "Cut a torn record at the end of the outbox %s (%d bytes at offset %d, from an interrupted write)",
				log_path, #data - good_end, good_end);
		end
	end
	local ok, err = rewrite_log(entries);
	if not ok then
		error("cannot write the outbox " .. log_path .. ": " .. tostring(err));
	end
	local copies = {};
	for i, e in ipairs(entries) do
		local entry = entry_of_iq(e.seq, xml_parse(e.copy));
		if entry then
			copies[#copies + 1] = { id = e.id, entry = entry };
		else
			module:log("error", "Unreadable copy %s in the outbox %s (record %d); skipping it", e.id, log_path, i);
		end
	end
	return copies;
end

-- A clean stop writes the confirmations this turn collected.
function log_outbox.close()
	if not log_file then return; end
	local ok, err = append(nil);
	if not ok then module:log("warn", "Could not append confirmations to the outbox %s: %s", log_path, tostring(err)); end
	log_file:close();
	log_file = nil;
end

----------------------------------------------------------------------------------------------------
-- The outbox, storage API: one item per unconfirmed copy in the "xmpp_maildir_outbox" store,
-- keyed by the copy id: { seq = n, copy = <preserialized iq> }. Written before each send.
----------------------------------------------------------------------------------------------------
local storage_outbox = {};

function storage_outbox.open()
	storage_outbox.store = module:open_store("xmpp_maildir_outbox");
	local outbox = storage_outbox.store;
	-- The outbox is only at-least-once if copies left unconfirmed by an earlier run can be found
	-- again at start, which takes the keyval store's users(). Without it they would sit in storage,
	-- never re-sent: refuse to load, as mod_mam refuses a store without find(), rather than run
	-- without the guarantee. internal and sql have users(); none, for one, does not.
	if not outbox.users then
		error("mod_" .. (outbox._provided_by or outbox.name and "storage_" .. outbox.name or "storage_?")
			.. " cannot list the xmpp_maildir_outbox store (no users()), so copies left unconfirmed by a"
			.. " restart would never be re-sent; refusing to load. Use a storage driver that can, e.g."
			.. " storage = { xmpp_maildir_outbox = \"internal\" } (https://prosody.im/doc/storage)");
	end
end

function storage_outbox.add(id, entry)
	-- Durable before it is sent: if Prosody stops now, the copy is sent after the restart. Stored
	-- as before (a preserialised IQ), so older and newer modules read each other's store.
	local ok, err = storage_outbox.store:set(id, { seq = entry.seq, copy = st.preserialize(xml_parse(v0_xml(entry))) });
	if not ok then
		module:log("error", "Could not store copy %s in the outbox (%s); sending it unprotected", id, tostring(err));
	end
	release(id);
	pump();
end

function storage_outbox.remove(id)
	local ok, err = storage_outbox.store:set(id, nil);
	if not ok and err then
		module:log("error", "Could not remove confirmed copy %s from the outbox: %s", id, err);
	end
end

function storage_outbox.load()
	local outbox = storage_outbox.store;
	local stored = {};
	for id in outbox:users() do stored[#stored + 1] = id; end
	local copies = {};
	for _, id in ipairs(stored) do
		local data = outbox:get(id);
		local entry = data and data.copy and entry_of_iq(data.seq or 0, st.deserialize(data.copy));
		if entry then
			copies[#copies + 1] = { id = id, entry = entry };
		elseif data then
			module:log("error", "Unreadable copy %s in the outbox store; skipping it", id);
		end
	end
	table.sort(copies, function (a, b) return a.entry.seq < b.entry.seq; end);
	return copies;
end

function storage_outbox.close() end

local outbox = outbox_store == "log" and log_outbox or storage_outbox;
if outbox.open then outbox.open(); end
outbox_remove = function (id) outbox.remove(id); end

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
	for id, handle in pairs(inflight) do
		handle:stop();
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

-- Sends a copy (or a batch) as the XML text built above. While the component is connected this
-- goes straight to mod_component's session, which writes what it is given (tostring() of it) to
-- the socket, as routing would have after firing iq/host on the component host: the text is then
-- not parsed and serialised again. Not connected: through routing as a stanza, and Prosody
-- answers for the component with the error (wait, remote-server-timeout) the retry path expects.
local hosts = prosody.hosts;
local function send_xml(xml)
	local host = hosts[component];
	local env = host and host.modules and host.modules.component;
	local session = env and env.connected and env.session;
	if session and session.type == "component" then
		session.send(xml);
	else
		module:send(xml_parse(xml));
	end
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
	send_xml(v0_xml(entry));
end

-- A batch IQ of the copies `ids` (v1). Each <copy/> is the v0 one with the copy's id added, around
-- the <forwarded/> text kept in `pending`.
local function send_batch(ids)
	local batch_id = next_id("xmd-b-");
	local batch = { ids = ids, is_batch = true };
	function batch:stop()
		if self.timer then self.timer:stop(); self.timer = nil; end
	end
	-- Each <copy/> is the v0 one plus its id, its pieces put straight into the batch's text (no
	-- string per copy).
	local parts, n = { iq_head, escape(batch_id), "'><copies xmlns='", xmlns_copy_batch, "'>" }, 5;
	for _, id in ipairs(ids) do
		local entry = pending[id];
		parts[n + 1], parts[n + 2], parts[n + 3], parts[n + 4], parts[n + 5] = "<copy id='", entry.xid, "'", copy_attrs(entry), entry.fwd;
		parts[n + 6] = "</copy>";
		n = n + 6;
		inflight[id] = batch;
		inflight_count = inflight_count + 1;
	end
	parts[n + 1] = "</copies></iq>";
	batch.timer = module:add_timer(confirm_timeout, function ()
		batch.timer = nil;
		for _, id in ipairs(ids) do
			if inflight[id] == batch then
				module:log("warn", "Batch %s of %d copies not confirmed within %ds", batch_id, #ids, confirm_timeout);
				pause_and_retry("confirmation timed out");
				return;
			end
		end
	end);
	batches[batch_id] = batch;
	send_xml(table.concat(parts));
end

-- With batching: everything waiting at the end of this turn, up to the window, in batches of at
-- most batch_max copies; a copy waiting alone goes as a v0 copy, which needs no batch around it.
local function flush()
	flush_timer = nil;
	while batching and not paused and inflight_count < window and qhead <= qtail do
		local ids, bytes = {}, 0;
		while #ids < batch_max and inflight_count + #ids < window and qhead <= qtail do
			local id = queue[qhead];
			local size = record_bytes[id] or 0;
			if #ids > 0 and bytes + size > batch_max_bytes then break; end
			queue[qhead] = nil;
			qhead = qhead + 1;
			if pending[id] and not inflight[id] then
				ids[#ids + 1] = id;
				bytes = bytes + size;
			end
		end
		if #ids == 1 then send_one(ids[1]); elseif #ids > 1 then send_batch(ids); end
	end
	if qhead > qtail then queue, qhead, qtail = {}, 1, 0; end
end

function pump()
	if batching then
		if not flush_timer then flush_timer = module:add_timer(0, flush); end
		return;
	end
	while not paused and inflight_count < window and qhead <= qtail do
		local id = queue[qhead];
		queue[qhead] = nil;
		qhead = qhead + 1;
		if pending[id] and not inflight[id] then send_one(id); end
	end
	if qhead > qtail then queue, qhead, qtail = {}, 1, 0; end
end

local function done(id)
	local handle = inflight[id];
	if handle then
		-- A batch's timer is stopped when the batch is answered: the copy may also be confirmed by
		-- a late answer to an earlier attempt while the batch it is in now is still out.
		if not handle.is_batch then handle:stop(); end
		inflight[id] = nil;
		inflight_count = inflight_count - 1;
	end
	pending[id] = nil;
	outbox_remove(id);
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
	-- XEP-0444: a reaction has no body; the component files it with its original.
	if stanza:get_child("reactions", "urn:xmpp:reactions:0") then return true; end
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

-- The delay stamp has whole seconds (XEP-0082 as util.datetime writes it): made once a second.
local stamp_second, stamp_text = nil, nil;
local function stamp_now()
	local now = os.time();
	if now ~= stamp_second then stamp_second, stamp_text = now, datetime.datetime(now); end
	return stamp_text;
end
local fwd_head = "<forwarded xmlns='" .. xmlns_forward .. "'><delay xmlns='" .. xmlns_delay .. "' stamp='";
local function send_copy(stanza, reason, own)
	-- Serialised now, before anything downstream (mod_offline, carbons) touches the stanza, so no
	-- clone is needed. XEP-0297 requires the forwarded stanza to state its namespace: set for the
	-- serialiser and put back at once (stanzas from c2s carry none).
	-- The XML of <forwarded><delay/>message</forwarded>, without building that stanza, and in one
	-- concatenation of the serialiser's pieces.
	local xmlns = stanza.attr.xmlns;
	stanza.attr.xmlns = "jabber:client";
	local buf = { fwd_head, stamp_now(), "'/>" };
	local ok, n = pcall(serialise, stanza, buf, 3, nil);
	stanza.attr.xmlns = xmlns;
	if not ok then error(n, 0); end
	buf[n + 1] = "</forwarded>";
	local text = t_concat(buf);
	local id = next_id("xmd-");
	local entry = { seq = next_seq, reason = reason, own = own and true or nil, fwd = text };
	remember(id, entry);
	-- Sent once it is in the outbox: if Prosody stops before then, so was the message's delivery.
	outbox.add(id, entry);
end

-- Negotiation (docs/protocol.md): ask the component which versions of the copy protocol it takes.
-- Until it answers, copies go as v0; no answer, an error or no copy:1 feature keeps v0.
local function discover()
	batching = false;
	disco_id = "xmd-disco-" .. new_id();
	module:send(st.iq({ type = "get", from = module.host, to = component, id = disco_id }):query(xmlns_disco_info));
end

disco_answer = function (stanza)
	disco_id = nil;
	local query = stanza.attr.type == "result" and stanza:get_child("query", xmlns_disco_info);
	local v1 = false;
	if query then
		for feature in query:childtags("feature") do
			if feature.attr.var == xmlns_copy_batch then v1 = true; end
		end
	end
	module:log("info", "%s %s batches of copies (%s)%s", component, v1 and "takes" or "does not take", xmlns_copy_batch,
		v1 and not batching_allowed and "; not sending any (xmpp_maildir_batching = false)" or "");
	batching = v1 and batching_allowed;
	pump();
end

-- The copies of `batch` still waiting for this batch's answer (not confirmed meanwhile by a late
-- answer, and not put back and sent again since).
local function still_out(batch)
	local ids = {};
	for _, id in ipairs(batch.ids) do
		if inflight[id] == batch and pending[id] then ids[#ids + 1] = id; end
	end
	return ids;
end

-- The answer to a batch: a result settles each copy (confirmed, refused, or `wait`); an error
-- applies to all of them, or says the component is an old one that takes only v0 copies.
batch_answer = function (batch, stanza)
	local err_type, condition, text = stanza:get_error();
	if stanza.attr.type == "result" then
		local answers = {};
		local copies = stanza:get_child("copies", xmlns_copy_batch);
		if copies then
			for copy in copies:childtags("copy") do
				if copy.attr.id then answers[copy.attr.id] = copy; end
			end
		end
		local wait_why = nil;
		for _, id in ipairs(batch.ids) do
			local copy = answers[id];
			local error_tag = copy and copy:get_child("error");
			if copy and not error_tag then
				if pending[id] then done(id); end
			elseif copy then
				local e_type, e_condition, e_text = copy:get_error();
				if e_type == "wait" then
					wait_why = wait_why or ("%s: %s"):format(e_condition or "wait", e_text or "");
				elseif pending[id] then
					module:log("error", "Component refused copy %s (%s/%s: %s); removing it from the outbox",
						id, e_type or "?", e_condition or "?", e_text or "");
					done(id);
				end
			elseif inflight[id] == batch then
				-- Not in the answer: kept, and sent again, as after a `wait`.
				wait_why = wait_why or "the answer to a batch left a copy out";
			end
		end
		if wait_why and #still_out(batch) > 0 then
			pause_and_retry(wait_why);
		else
			retry_delay = retry_min;
			pump();
		end
		return;
	end
	local ids = still_out(batch);
	if condition == "service-unavailable" or condition == "feature-not-implemented"
		or (condition == "bad-request" and not stanza:get_child("copies", xmlns_copy_batch)) then
		-- An older component, which takes only v0 copies: send these again singly, same ids.
		module:log("info", "%s refused a batch of copies (%s); sending single copies on this connection", component, condition);
		batching = false;
		for _, id in ipairs(ids) do
			inflight[id] = nil;
			inflight_count = inflight_count - 1;
		end
		requeue(ids);
		pump();
	elseif err_type == "wait" then
		pause_and_retry(("%s: %s"):format(condition or "wait", text or ""));
	else
		module:log("error", "Component refused a batch of %d copies (%s/%s: %s); removing them from the outbox",
			#ids, err_type or "?", condition or "?", text or "");
		for _, id in ipairs(ids) do done(id); end
		pump();
	end
end

-- The component's answers: an IQ result (stored), or an error.
module:hook("iq/host", function (event)
	local stanza = event.stanza;
	local t = stanza.attr.type;
	local id = stanza.attr.id;
	if (t ~= "result" and t ~= "error") or stanza.attr.from ~= component or not id then return; end
	if id == disco_id then
		disco_answer(stanza);
		return true;
	end
	local batch = batches[id];
	if batch then
		batches[id] = nil;
		batch:stop();
		batch_answer(batch, stanza);
		return true;
	end
	if not pending[id] then return; end
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

-- XEP-0045 §7.4: a room reflects a user's own message back to them like any other. What a local
-- user sends to a room is remembered briefly (same key shape as above, the last 1000), so the copy
-- of its reflection can say it is the user's own (own='true': docs/protocol.md).
local recent_own_groupchat = new_cache(1000);
local function own_groupchat_key(user, room, stanza)
	return table.concat({ user, room, stanza.attr.id or "", stanza:get_child_text("body") or "" }, "\0");
end
local function outgoing_groupchat(event)
	local origin, stanza = event.origin, event.stanza;
	if not groupchat or origin.type ~= "c2s" or stanza.attr.type ~= "groupchat" or not stanza.attr.to or not origin.full_jid then return; end
	recent_own_groupchat:set(own_groupchat_key(jid_bare(origin.full_jid), jid_bare(stanza.attr.to), stanza), true);
end
module:hook("pre-message/bare", outgoing_groupchat, -1);

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
		local own = recent_own_groupchat:get(own_groupchat_key(jid_bare(to), jid_bare(stanza.attr.from), stanza));
		send_copy(stanza, "groupchat", own);
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
	module:hook_object_event(host.events, "component-authenticated", function ()
		discover();
		resume("component connected");
	end);
	module:hook_object_event(host.events, "component-disconnected", function ()
		batching, batches, disco_id = false, {}, nil;
		pause_and_retry("component disconnected");
	end);
end
watch_component_host();
module:hook_global("host-activated", function (host)
	if host == component then watch_component_host(); end
end);

-- Copies left unconfirmed by an earlier run (or a crash): send them again, oldest first.
local function load_outbox()
	local copies = outbox.load();
	for _, e in ipairs(copies) do
		remember(e.id, e.entry);
		release(e.id);
	end
	if #copies > 0 then
		module:log("info", "Re-sending %d unconfirmed copies to %s", #copies, component);
	end
end
load_outbox();
-- Loaded while the component may already be connected (a module reload, an upgrade): ask now. If
-- it is not, Prosody answers for it with an error, and component-authenticated asks again.
if prosody.hosts[component] then discover(); end
module:hook_global("server-stopping", function () outbox.close(); end);
function module.unload() outbox.close(); end
-- Give the component a moment to connect after a server start before the first attempt; the
-- backoff takes over from there.
module:add_timer(1, function () pump(); end);

module:log("info", "Copying offline and normal messages%s%s to %s",
	chat_history and ", chats (received and sent)" or "", groupchat and ", group chat" or "", component);
