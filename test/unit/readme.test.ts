// The README's configuration table is written by hand; this keeps it in step with the option table.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { RUN_OPTIONS, envName } from "../../src/config/index.js";

test("the README's configuration table lists every run option with its env variable", () => {
  const readme = readFileSync(fileURLToPath(new URL("../../../README.md", import.meta.url)), "utf8");
  const section = readme.slice(readme.indexOf("\n## Configuration"), readme.indexOf("\n## ", readme.indexOf("\n## Configuration") + 1));
  const rows = section.split("\n").filter((l) => l.startsWith("| `--"));
  for (const spec of RUN_OPTIONS) {
    const row = rows.find((r) => r.startsWith(`| \`--${spec.name}\` |`));
    assert.ok(row, `README: no row for --${spec.name} in the Configuration table`);
    assert.ok(row.includes(`\`${envName(spec.name)}\``), `README: the --${spec.name} row does not name ${envName(spec.name)}`);
  }
});
