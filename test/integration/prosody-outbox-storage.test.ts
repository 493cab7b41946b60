// The Prosody module's outbox is at-least-once only because copies left unconfirmed by a restart
// are found again at start, through the storage driver's users(). With a driver that cannot list
// a store, the module must refuse to load (as mod_mam refuses a store without find()) instead of
// running without the guarantee. A real Prosody, a tiny storage driver written for this test.
import { after, before, describe, test } from "node:test";
import { onServers } from "../../harness/generation.js";
import assert from "node:assert/strict";
import { copyFile, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { prosodyPluginDir } from "../../harness/paths.js";
import { startProsody, type ProsodyServer } from "../../harness/prosody.js";
import { makeTempDir, removeDir } from "../../harness/tmp.js";

const DOMAIN = "example.test";
const COMPONENT = "archive.example.test";
const MODULE_FILE = "mod_xmpp_maildir.lua";

/** A keyval driver that keeps data in memory and, like mod_storage_none, has no users(). */
const DRIVER_NAME = "nousers";
const DRIVER = `-- Written by test/integration/prosody-outbox-storage.test.ts.
local driver = {};
local store_mt = { __index = driver };
function driver:open(store, typ)
	if typ and typ ~= "keyval" then return nil, "unsupported-store"; end
	return setmetatable({ store = store, data = {} }, store_mt);
end
function driver:get(user) return self.data[user or ""]; end
function driver:set(user, data) self.data[user or ""] = data; return true; end
module:provides("storage", driver);
`;

describe(onServers("Prosody module with a storage driver that cannot list the outbox"), () => {
  let dir: string;
  let plugins: string;

  before(async () => {
    dir = await makeTempDir("xmd-outbox-storage-");
    // One plugin directory (the harness takes one): the product's module, copied as it ships,
    // beside the test's driver.
    plugins = path.join(dir, "plugins");
    await mkdir(plugins);
    await copyFile(path.join(prosodyPluginDir(), MODULE_FILE), path.join(plugins, MODULE_FILE));
    await writeFile(path.join(plugins, `mod_storage_${DRIVER_NAME}.lua`), DRIVER);
  });

  after(async () => {
    await removeDir(dir);
  });

  test("refuses to load, saying which driver and why", async () => {
    let server: ProsodyServer | undefined;
    try {
      await assert.rejects(
        async () => {
          server = await startProsody({
            dir: path.join(dir, "prosody"),
            domain: DOMAIN,
            componentDomain: COMPONENT,
            componentSecret: "s3cret",
            users: [],
            pluginPath: plugins,
            modules: ["xmpp_maildir"],
            extraHostConfig: [
              `xmpp_maildir_component = "${COMPONENT}"`,
              `storage = { xmpp_maildir_outbox = "${DRIVER_NAME}" }`,
            ].join("\n"),
          });
        },
        (err: Error) => {
          // The harness fails a start on any modulemanager error and quotes the log line.
          assert.match(err.message, /Error initializing module 'xmpp_maildir' on 'example\.test'/);
          assert.match(
            err.message,
            new RegExp(`mod_storage_${DRIVER_NAME} cannot list the xmpp_maildir_outbox store \\(no users\\(\\)\\).*refusing to load`),
          );
          return true;
        },
      );
    } finally {
      await server?.stop();
    }
  });
});
