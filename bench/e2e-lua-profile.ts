// BENCH_E2E_LUA_PROFILE=1 (bench/e2e.ts): which Lua functions Prosody's interpreter runs, per message,
// with our module and alone. perf and callgrind see only the interpreter's C (luaV_execute); this
// sees the Lua code it executes. A bench-only Prosody module (written to a temp dir, loaded in every
// Prosody row) sets Lua's count hook on the main thread at load, so every coroutine created later
// (each c2s session's runner) inherits it: every N virtual-machine instructions (N = 1000 by
// default, BENCH_E2E_LUA_PROFILE_EVERY), the function running and its line are counted. SIGUSR1
// (mod_posix fires signal/SIGUSR1) starts counting at the load's start, SIGUSR2 writes the counts.
// What it counts is VM instructions, not time: time in C functions (string building, expat, table.concat)
// is not counted, so this is the Lua half of the picture and perf (BENCH_E2E_PERF) the other.
// The hook costs one debug.getinfo per N instructions in both rows alike.
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";

export const LUA_PROFILE = process.env.BENCH_E2E_LUA_PROFILE === "1";
const EVERY = Number(process.env.BENCH_E2E_LUA_PROFILE_EVERY ?? 1000);
const MODULE = "xmd_bench_lua_profile";

const LUA = `-- Written by bench/e2e-lua-profile.ts for one bench run; never for production.
local out_dir = module:get_option_string("xmd_bench_lua_profile_dir");
local every = module:get_option_number("xmd_bench_lua_profile_every", 1000);
local getinfo = debug.getinfo;
local counts, recording, dumps = {}, false, 0;
local function hook()
	if not recording then return; end
	local info = getinfo(2, "Sl");
	if not info then return; end
	local key = info.short_src .. "\\t" .. info.linedefined .. "\\t" .. (info.currentline or -1);
	counts[key] = (counts[key] or 0) + 1;
end
-- The main thread (the registry's first slot in Lua 5.2-5.4): net.server's loop runs there, and the
-- coroutines it creates from now on copy its hook (lua_newthread).
debug.sethook(debug.getregistry()[1], hook, "", every);
debug.sethook(hook, "", every);
module:hook_global("signal/SIGUSR1", function ()
	counts, recording = {}, true;
end);
module:hook_global("signal/SIGUSR2", function ()
	recording = false;
	dumps = dumps + 1;
	local lines = {};
	for key, n in pairs(counts) do lines[#lines + 1] = n .. "\\t" .. key; end
	local tmp = out_dir .. "/profile-" .. dumps .. ".tmp";
	local f = assert(io.open(tmp, "w"));
	f:write(table.concat(lines, "\\n"), "\\n");
	f:close();
	assert(os.rename(tmp, out_dir .. "/profile-" .. dumps .. ".txt"));
	counts = {};
end);
`;

let dir: string | undefined;

export interface LuaProfile {
  readonly label: string;
  readonly messages: number;
  /** "source\tlinedefined" → samples (one per EVERY VM instructions). */
  readonly functions: Map<string, number>;
  /** "source\tline" → samples, for our module's lines only. */
  readonly moduleLines: Map<string, number>;
  readonly total: number;
}

/** Before the first Prosody: writes the module. */
export async function setUpLuaProfile(): Promise<void> {
  if (!LUA_PROFILE) return;
  if (!Number.isInteger(EVERY) || EVERY < 100) throw new Error("BENCH_E2E_LUA_PROFILE_EVERY takes an integer ≥ 100 (VM instructions between samples)");
  dir = await mkdtemp(path.join(os.tmpdir(), "xmd-bench-luaprof-"));
  await writeFile(path.join(dir, `mod_${MODULE}.lua`), LUA);
  console.log(`# Lua profile: one sample every ${EVERY} VM instructions in Prosody (${dir})`);
}

/** For the Prosody rows: the module's directory, name and options (undefined without the knob). */
export function luaProfileModule(): { dir: string; modules: string[]; hostConfig: string[] } | undefined {
  if (!dir) return undefined;
  return { dir, modules: [MODULE], hostConfig: [`xmd_bench_lua_profile_dir = "${dir}"`, `xmd_bench_lua_profile_every = ${EVERY}`] };
}

export interface LuaProfiler {
  stop(): Promise<LuaProfile | undefined>;
}

const isModule = (source: string) => source.endsWith("mod_xmpp_maildir.lua");

export async function startLuaProfile(pid: number, label: string, messages: number): Promise<LuaProfiler> {
  if (!dir) return { stop: async () => undefined };
  process.kill(pid, "SIGUSR1");
  return {
    async stop() {
      process.kill(pid, "SIGUSR2");
      let file: string | undefined;
      for (let waited = 0; !file; waited += 50) {
        file = (await readdir(dir!)).find((f) => f.startsWith("profile-") && f.endsWith(".txt"));
        if (!file && waited > 10_000) throw new Error(`Prosody wrote no Lua profile into ${dir} within 10 s of SIGUSR2 (is mod_posix loaded?)`);
        if (!file) await delay(50);
      }
      const functions = new Map<string, number>();
      const moduleLines = new Map<string, number>();
      let total = 0;
      for (const line of (await readFile(path.join(dir!, file), "utf8")).split("\n")) {
        const [n, source, defined, current] = line.split("\t");
        if (!n || source === undefined) continue;
        const count = Number(n);
        total += count;
        const fn = `${source}\t${defined}`;
        functions.set(fn, (functions.get(fn) ?? 0) + count);
        if (isModule(source)) moduleLines.set(`${source}\t${current}`, (moduleLines.get(`${source}\t${current}`) ?? 0) + count);
      }
      // Each Prosody numbers its dumps from 1, so the next row's would have this one's name; and with
      // none left here, the next stop finds its own.
      await rm(path.join(dir!, file));
      if (total === 0) throw new Error(`the Lua profile of ${label} counted nothing`);
      return { label, messages, functions, moduleLines, total };
    },
  };
}

/** Source files read for the report, by path (each read once). */
const sourceLines = new Map<string, string[]>();

/** The text of line `n` of `source` (short_src: a path, or "...tail" when Lua cut it), trimmed. */
function lineText(source: string, n: number): string {
  let file = source;
  if (file.startsWith("...")) {
    const tail = file.slice(3);
    file = ["/usr/lib/prosody", path.resolve(new URL("../../server/prosody", import.meta.url).pathname)].map((d) => d + tail.slice(tail.indexOf("/"))).find((f) => existsSync(f)) ?? file;
  }
  let lines = sourceLines.get(file);
  if (!lines) {
    lines = existsSync(file) ? readFileSync(file, "utf8").split("\n") : [];
    sourceLines.set(file, lines);
  }
  const text = lines[n - 1] ?? "";
  return text.trim().replace(/\s+/g, " ").slice(0, 60);
}

const short = (source: string) => source.replace(/^.*\/(?=[^/]+\/[^/]+$)/, "");

/** Thousands of VM instructions per message, by function; the module's functions and lines. */
export function luaProfileReport(withModule: LuaProfile | undefined, alone: LuaProfile | undefined): string[] {
  if (!withModule || !alone) return [];
  const k = (n: number, p: LuaProfile) => (n * EVERY) / p.messages / 1000;
  const fmt = (x: number) => x.toFixed(1).padStart(7);
  const lines = [
    `# Lua profile: Prosody's VM instructions per message, in thousands (${withModule.label} | prosody-alone | difference)`,
    `#   all                                                              ${fmt(k(withModule.total, withModule))} ${fmt(k(alone.total, alone))} ${fmt(k(withModule.total, withModule) - k(alone.total, alone))}`,
  ];
  let moduleTotal = 0;
  for (const [fn, n] of withModule.functions) if (isModule(fn.split("\t")[0]!)) moduleTotal += n;
  lines.push(`#   of which in mod_xmpp_maildir.lua's own functions                 ${fmt(k(moduleTotal, withModule))}`);
  const keys = [...new Set([...withModule.functions.keys(), ...alone.functions.keys()])];
  const rows = keys.map((fn) => ({ fn, w: k(withModule.functions.get(fn) ?? 0, withModule), a: k(alone.functions.get(fn) ?? 0, alone) })).sort((x, y) => y.w - y.a - (x.w - x.a));
  lines.push("#   the 30 functions that grew most (file:line where defined, its first line):");
  for (const r of rows.slice(0, 30)) {
    const [source, defined] = r.fn.split("\t");
    const where = `${short(source!)}:${defined}`;
    lines.push(`#     ${`${where} ${lineText(source!, Number(defined))}`.slice(0, 62).padEnd(62)} ${fmt(r.w)} ${fmt(r.a)} ${fmt(r.w - r.a)}`);
  }
  const moduleLines = [...withModule.moduleLines].sort((a, b) => b[1] - a[1]).slice(0, 25);
  lines.push("#   mod_xmpp_maildir.lua's busiest lines (thousands of VM instructions per message):");
  for (const [key, n] of moduleLines) {
    const [source, line] = key.split("\t");
    lines.push(`#     ${`${line} ${lineText(source!, Number(line))}`.slice(0, 62).padEnd(62)} ${fmt(k(n, withModule))}`);
  }
  lines.push(`prosody_lua_kinstr_per_msg=${k(withModule.total, withModule).toFixed(1)} prosody_alone_lua_kinstr_per_msg=${k(alone.total, alone).toFixed(1)} prosody_lua_ratio=${(withModule.total / withModule.messages / (alone.total / alone.messages)).toFixed(3)}`);
  return lines;
}
