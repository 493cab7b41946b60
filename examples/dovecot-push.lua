-- Dovecot push_notification Lua driver → xmpp-maildir (--watch push).
-- On each mail delivered into a user's INBOX, POSTs {"user":"<user>","mailbox":"INBOX"} to the
-- component's loopback endpoint; the component then looks at that INBOX itself and pushes what is
-- new to the user if they are online. One script for both Dovecot generations; the Lua plugins
-- and dovecot.http are part of dovecot-core in Debian 12 (2.3.19) and 13 (2.4.1), no extra package.
--   2.3: the URL is a plugin setting (xmpp_maildir_push_url in plugin {}), see dovecot-push.conf.
--   2.4: it comes from lua_settings, passed to script_init(), see dovecot-2.4/dovecot-push.conf.

local client = nil
-- Set from lua_settings (2.4); nil on 2.3, where each user's plugin settings are read instead.
local configured_url = nil

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
end

-- Short timeout, one attempt: this runs inside the delivery, and a push is only a convenience.
-- 2.3 takes timeout/max_attempts (ms); 2.4 refuses those and takes request_timeout with a unit.
local function http_client()
  local agent = "dovecot-push-xmpp-maildir"
  local ok, c = pcall(dovecot.http.client, { timeout = 2000, max_attempts = 1, user_agent = agent })
  if ok then return c end
  return dovecot.http.client({ request_timeout = "2s", user_agent = agent })
end

function script_init(settings)
  if type(settings) == "table" and settings.xmpp_maildir_push_url then
    configured_url = settings.xmpp_maildir_push_url
  end
  client = http_client()
  return 0
end

function dovecot_lua_notify_begin_txn(user)
  local url = configured_url
  if url == nil then url = user:plugin_getenv("xmpp_maildir_push_url") end
  return { user = user.username, url = url, inbox = false }
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
