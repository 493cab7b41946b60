-- Prosody 13.0 or 0.12 (Debian 13, 12; both tested): the parts xmpp-maildir needs. Merge into /etc/prosody/prosody.cfg.lua.

-- Where mod_xmpp_maildir.lua lives. Either copy server/prosody/mod_xmpp_maildir.lua into
-- /usr/lib/prosody/modules/, or point plugin_paths at the installed package's server/prosody.
-- ($(npm root -g)/xmpp-maildir/server/prosody after a global npm install)
plugin_paths = { "/usr/local/lib/node_modules/xmpp-maildir/server/prosody" }

-- The component port: keep it on loopback, the component runs on the same machine.
component_ports = { 5347 }
component_interfaces = { "127.0.0.1" }

VirtualHost "example.org"
	modules_enabled = { "xmpp_maildir" }
	-- Copies of offline and normal messages go to this component.
	xmpp_maildir_component = "archive.example.org"
	-- Optional: seconds to wait for the component's confirmation before logging a warning.
	-- xmpp_maildir_confirm_timeout = 60
	-- Optional: where unconfirmed copies wait. "log" (default): one append-only file per host in
	-- Prosody's data directory. "storage": Prosody's storage API, e.g. with
	-- storage = { xmpp_maildir_outbox = "sql" } (which also selects it).
	-- xmpp_maildir_outbox_store = "log"

-- The archive component. Users can also send to user@archive.example.org directly.
Component "archive.example.org"
	-- The same secret goes to xmpp-maildir via XMPP_MAILDIR_SECRET or secret-file.
	component_secret = "change-me"

-- Optional: the upload service (XEP-0363) bundled with Prosody 0.12 and 13. xmpp-maildir fetches
-- shared files from it when its origin is in --upload-origins (README, "Shared files"): with the
-- line below that is upload-origins = "https://upload.example.org". Files expire after 7 days
-- (http_file_share_expires_after); the archive keeps its copy.
-- http_external_url = "https://upload.example.org/"
-- Component "upload.example.org" "http_file_share"
--	-- The mail bridge (--watch) uploads pushed mail's attachments here as the component itself:
--	-- list the users' domain and the component (docs/attachments.md). A non-empty list replaces
--	-- the default (users of any local host), so keep the users' domain in it.
--	http_file_share_access = { "example.org", "archive.example.org" }
