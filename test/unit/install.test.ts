// The ltx trap: @xmpp/xml 0.13 requires 'ltx/lib/Element.js', which ltx 3.1's exports map no
// longer resolves. package.json pins ltx 3.0.0 through overrides; this proves a clean install loads.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";

test("the XMPP component and xml libraries load from this install", async () => {
  const mod = await import("@xmpp/component");
  assert.equal(typeof mod.component, "function");
  const xmlMod = await import("@xmpp/xml");
  assert.equal(xmlMod.default("a", { b: "c" }).toString(), '<a b="c"/>');
  const require = createRequire(import.meta.url);
  const ltxVersion = (require("ltx/package.json") as { version: string }).version;
  assert.equal(ltxVersion, "3.0.0", "ltx must stay pinned to 3.0.0 (see package.json overrides)");
});

test("xmpp.js resolves one @xmpp/xml, so iq replies recognise our error elements", () => {
  // @xmpp/iq decides between an error reply and a result with `instanceof xml.Element`. With two
  // copies of @xmpp/xml installed, an error we return would be sent as a *result*: a copy
  // confirmed that was never stored. `npm ls` must show one version for every @xmpp package.
  const require = createRequire(import.meta.url);
  const ours = require.resolve("@xmpp/xml");
  const fromIq = createRequire(require.resolve("@xmpp/iq/callee")).resolve("@xmpp/xml");
  const fromComponent = createRequire(require.resolve("@xmpp/component")).resolve("@xmpp/xml");
  assert.equal(fromIq, ours);
  assert.equal(fromComponent, ours);
});
