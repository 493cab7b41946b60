// What bench/e2e.ts prints: one row per run, where the CPU time goes, and which part is the limit.
import type { CpuUse } from "./proc-stat.js";

/** "server": the XMPP server's process, Prosody's lua or ejabberd's beam.smp (Phase.server says which). */
export type Part = "server" | "component" | "clients";
export const PARTS: readonly Part[] = ["server", "component", "clients"];

/**
 * A main thread on a CPU or queued for one at least this share of the wall time never waited for
 * anything but a core: it is what the others wait for. Not 1.0: blocking file-system calls (the
 * thread sleeps in the kernel, neither running nor queued) take a few per cent even then.
 */
const SATURATED = 0.8;

export interface Phase {
  readonly label: string;
  /** Which XMPP server ran: default "prosody". */
  readonly server?: "prosody" | "ejabberd";
  readonly k: number;
  readonly messages: number;
  /** First send to the last message stored (or, without the component, handled by Prosody). */
  readonly seconds: number;
  readonly use: Partial<Record<Part, CpuUse>>;
  /** Copies the component found already stored (re-sent by the module): the visible retries. */
  readonly duplicates: number;
  /** The module's "Pausing copies" and "not confirmed within" lines in Prosody's log. */
  readonly pauses: number;
  readonly timeouts: number;
}

export const rate = (p: Phase) => p.messages / p.seconds;
/** A part's CPU per message in ms (NaN when the row did not measure that part). */
export const cpuPerMessage = (p: Phase, part: Part) => (p.use[part]?.cpuMs ?? NaN) / p.messages;

/** The part whose main thread was never idle (on a CPU or queued for one), if any. */
export function limitOf(p: Phase): "prosody" | "ejabberd" | "component" | "clients" | "none" {
  const busy = (part: Part) => (p.use[part] ? p.use[part].run + p.use[part].wait : 0);
  const busiest = [...PARTS].sort((a, b) => busy(b) - busy(a))[0]!;
  if (busy(busiest) < SATURATED) return "none";
  return busiest === "server" ? (p.server ?? "prosody") : busiest;
}

const f = (x: number, width: number, digits = 0) => x.toFixed(digits).padStart(width);

export const HEADER = [
  "# per part: CPU ms per message (utime+stime, all threads), util = CPU s / wall s (1.0 = one core),",
  `#           run+queue = share of the wall time its main thread was on a CPU + runnable but queued (limit: ≥ ${SATURATED})`,
  "#           (ejabberd: beam.smp's CPU; run+queue is the average over its scheduler threads)",
  "#                            server (prosody/ejabberd)   component                   clients (this process)",
  "run               K  wall_s rate/s  ms/msg  util run+queue   ms/msg  util run+queue   ms/msg  util run+queue  dupes pauses timeouts  limit",
];

export function row(p: Phase): string {
  const part = (u: CpuUse | undefined) =>
    u ? `${f(u.cpuMs / p.messages, 6, 2)} ${f(u.util, 5, 2)} ${f(u.run, 4, 2)}+${u.wait.toFixed(2)}` : `${"-".padStart(6)} ${"-".padStart(5)} ${"-".padStart(9)}`;
  return `${p.label.padEnd(15)} ${f(p.k, 3)} ${f(p.seconds, 7, 2)} ${f(rate(p), 6)}  ${PARTS.map((x) => part(p.use[x])).join("   ")}  ${f(p.duplicates, 5)} ${f(p.pauses, 6)} ${f(p.timeouts, 8)}  ${limitOf(p)}`;
}

/** CPU per message of one part, split into user and system time and main thread vs the rest. */
function split(u: CpuUse, messages: number): string {
  const per = (ms: number) => (ms / messages).toFixed(2);
  return `${per(u.cpuMs)} ms (user ${per(u.userMs)}, sys ${per(u.sysMs)}; main thread ${per(u.mainMs)}, one core's worth ≈ ${f(messages / (u.mainMs / 1000), 0)}/s)`;
}

/** CPU per message of each part at the largest K, and Prosody's split out of the other two runs. */
export function whereTheTimeGoes(e2e: Phase, memOutbox: Phase | undefined, alone: Phase | undefined): string[] {
  const lines = [`# where the time goes at K=${e2e.k}, CPU per message:`];
  const per = cpuPerMessage;
  const { server, component, clients } = e2e.use;
  if (server) lines.push(`#   ${(e2e.server ?? "prosody").padEnd(10)} ${split(server, e2e.messages)}`);
  if (server && memOutbox && alone) {
    const own = per(alone, "server");
    const stanzas = per(memOutbox, "server") - own;
    const files = per(e2e, "server") - per(memOutbox, "server");
    lines.push(`#              ≈ c2s + mod_offline ${own.toFixed(2)} + our module's stanzas ${stanzas.toFixed(2)} + its outbox ${files.toFixed(2)} (from the split runs)`);
  }
  if (component) lines.push(`#   component  ${split(component, e2e.messages)}`);
  if (memOutbox?.use.component) lines.push(`#              with the outbox in memory: ${split(memOutbox.use.component, memOutbox.messages)}`);
  if (clients) lines.push(`#   clients    ${split(clients, e2e.messages)}`);
  return lines;
}

/** With the module ÷ without it: the rate, and the server's CPU per message. */
export function ratioLine(withModule: Phase, alone: Phase | undefined): string {
  if (!alone) return "rate n/a";
  const cpu = (p: Phase) => cpuPerMessage(p, "server");
  return `rate ${(rate(withModule) / rate(alone)).toFixed(2)}× alone, server CPU/msg ${(cpu(withModule) / cpu(alone)).toFixed(2)}× alone`;
}

const msPerMsg = (p: Phase | undefined, part: Part) => (p?.use[part] ? (p.use[part].cpuMs / p.messages).toFixed(3) : "NaN");

/** The last line, for the largest K (ejabberd's fields when its rows ran). */
export function summary(p: Phase, alone?: Phase, ejabberd?: { e2e: Phase; alone: Phase }): string {
  const ms = (part: Part) => msPerMsg(p, part);
  const ratio = alone ? (rate(p) / rate(alone)).toFixed(2) : "NaN";
  const prosodyLine = `e2e_rate=${rate(p).toFixed(0)} limit=${limitOf(p)} prosody_ratio=${ratio} prosody_cpu_ms_per_msg=${ms("server")} component_cpu_ms_per_msg=${ms("component")} clients_cpu_ms_per_msg=${ms("clients")}`;
  if (!ejabberd) return prosodyLine;
  const { e2e, alone: bare } = ejabberd;
  const cpuRatio = cpuPerMessage(e2e, "server") / cpuPerMessage(bare, "server");
  return `${prosodyLine} ejabberd_ratio=${(rate(e2e) / rate(bare)).toFixed(2)} ejabberd_e2e_rate=${rate(e2e).toFixed(0)} ejabberd_cpu_ms_per_msg=${msPerMsg(e2e, "server")} ejabberd_alone_cpu_ms_per_msg=${msPerMsg(bare, "server")} ejabberd_cpu_ratio=${cpuRatio.toFixed(2)}`;
}
