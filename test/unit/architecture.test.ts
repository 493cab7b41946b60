// The shape of src/, checked from its import lines (docs/architecture.md): which room may import
// which, no import cycle between files, and no file over 300 lines. Reads the TypeScript sources
// next to the compiled tests, so it needs nothing but node.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const SRC = path.join(ROOT, "src");
/** STYLE.md asks for about 200; past this a file holds more than one concern. */
const MAX_LINES = 300;

/** The foundation: plain data, codes and helpers that import no other room, and any room may import. */
export const BASE = ["errors", "http", "jid", "log", "namespaces", "types"] as const;

/**
 * What each room (a folder under src/, or a top-level file) may import besides itself and BASE.
 * Lower rooms never import higher ones: config/ takes option types from the modules, app.ts
 * composes, cli/ talks to humans. Keep docs/architecture.md in step.
 */
export const MAY_IMPORT: Readonly<Record<string, readonly string[]>> = {
  ...Object.fromEntries(BASE.map((room) => [room, []])),
  metrics: [],
  // Bounded, allow-listed HTTP(S) GETs (src/fetch): base only, so the archive path and, later,
  // mail sent from XMPP (files shared in a reply) can both use it.
  fetch: [],
  capture: [],
  mail: ["capture"],
  maildir: ["mail"],
  dedupe: [],
  xmpp: ["metrics"],
  delivery: ["capture", "dedupe", "mail", "maildir"],
  // fetch: files shared in a reply are fetched with the archive's allow-listed fetcher; capture: readShares.
  bridge: ["capture", "fetch", "mail", "maildir", "xmpp"],
  replay: ["capture", "mail", "maildir", "xmpp"],
  archive: ["capture", "dedupe", "delivery", "fetch", "metrics", "xmpp"],
  config: ["bridge", "capture", "delivery", "fetch", "maildir"],
  check: ["config", "delivery", "maildir"],
  app: ["archive", "bridge", "config", "delivery", "fetch", "maildir", "metrics", "xmpp"],
  cli: ["app", "check", "config", "delivery", "metrics", "replay"],
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith(".ts") ? [full] : [];
  });
}

function roomOf(file: string): string {
  const [first = ""] = path.relative(SRC, file).split(path.sep);
  return first.replace(/(\.d)?\.ts$/, "");
}

/** Relative imports of a file (static, re-exports and dynamic), resolved to .ts paths under src/. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s+"([^"]+)"|\bimport\(\s*"([^"]+)"\s*\)/g)].map((m) => m[1] ?? m[2] ?? "");
  return specs.filter((s) => s.startsWith(".")).map((s) => path.resolve(path.dirname(file), s).replace(/\.js$/, ".ts"));
}

const files = sourceFiles(SRC);
const graph = new Map(files.map((f) => [f, importsOf(f)]));

test("every relative import in src/ names a file that exists", () => {
  const known = new Set(files);
  for (const [file, imports] of graph) {
    for (const target of imports) assert.ok(known.has(target), `${path.relative(ROOT, file)} imports ${path.relative(ROOT, target)}, which is not there`);
  }
});

test("rooms import only the rooms below them (MAY_IMPORT)", () => {
  const violations: string[] = [];
  for (const [file, imports] of graph) {
    const from = roomOf(file);
    const allowed = MAY_IMPORT[from];
    assert.ok(allowed, `src/${from} is a room the architecture test does not know; add it to MAY_IMPORT and docs/architecture.md`);
    for (const target of imports) {
      const to = roomOf(target);
      const base = (BASE as readonly string[]).includes(to) && !(BASE as readonly string[]).includes(from);
      if (to !== from && !base && !allowed.includes(to)) violations.push(`${path.relative(ROOT, file)} → ${to}`);
    }
  }
  assert.deepEqual(violations, []);
});

test("MAY_IMPORT itself has no cycle (the rooms form layers)", () => {
  const state = new Map<string, "visiting" | "done">();
  const visit = (room: string, trail: string[]): void => {
    if (state.get(room) === "done") return;
    assert.notEqual(state.get(room), "visiting", `room cycle: ${[...trail, room].join(" → ")}`);
    state.set(room, "visiting");
    for (const next of MAY_IMPORT[room] ?? []) visit(next, [...trail, room]);
    state.set(room, "done");
  };
  for (const room of Object.keys(MAY_IMPORT)) visit(room, []);
});

test("no import cycle between files", () => {
  const state = new Map<string, "visiting" | "done">();
  const visit = (file: string, trail: string[]): void => {
    if (state.get(file) === "done") return;
    if (state.get(file) === "visiting") {
      const cycle = [...trail.slice(trail.indexOf(file)), file].map((f) => path.relative(SRC, f));
      assert.fail(`import cycle: ${cycle.join(" → ")}`);
    }
    state.set(file, "visiting");
    for (const next of graph.get(file) ?? []) visit(next, [...trail, file]);
    state.set(file, "done");
  };
  for (const file of files) visit(file, []);
});

test(`no file in src/ is over ${MAX_LINES} lines`, () => {
  const long = files
    .map((f) => ({ file: path.relative(ROOT, f), lines: readFileSync(f, "utf8").split("\n").length - 1 }))
    .filter((f) => f.lines > MAX_LINES);
  assert.deepEqual(long, []);
});
