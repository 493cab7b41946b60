-- Dovecot push_notification Lua driver → xmpp-maildir (--watch push).
-- On each mail delivered into a user's INBOX, POSTs {"user":"<user>","mailbox":"INBOX"} to the
-- component's loopback endpoint; the component then looks at that INBOX itself and pushes what is
-- new to the user if they are online. Works with Dovecot 2.3.19 as packaged in Debian 12: the Lua
-- plugins and dovecot.http are part of dovecot-core (no extra package). Config: dovecot-push.conf.

local client = nil

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
end

function script_init()
  -- Short timeout: this runs inside the delivery, and a push is only a convenience.
  client = dovecot.http.client({ timeout = 2000, max_attempts = 1, user_agent = "dovecot-push-xmpp-maildir" })
  return 0
end

function dovecot_lua_notify_begin_txn(user)
  return { user = user.username, url = user:plugin_getenv("xmpp_maildir_push_url"), inbox = false }
end

function dovecot_lua_notify_event_message_new(ctx, event)
  if event.mailbox == "INBOX" then ctx.inbox = true end
end

function dovecot_lua_notify_event_message_append(ctx, event)
  -- IMAP APPEND (a client saving a draft, or our own archive writes seen by Dovecot) is no news.
end

function dovecot_lua_notify_end_txn(ctx, success)
  if not success or not ctx.inbox or not ctx.url or ctx.url == "" then return end
  local request = client:request({ url = ctx.url, method = "POST" })
  request:add_header("Content-Type", "application/json")
  request:set_payload('{"user":' .. json_string(ctx.user) .. ',"mailbox":"INBOX"}')
  local response = request:submit()
  if response:status() ~= 204 then
    dovecot.i_warning("xmpp-maildir push to " .. ctx.url .. " failed: " .. tostring(response:status()) .. " " .. tostring(response:reason()))
  end
end
