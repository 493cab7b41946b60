// bench/e2e.ts's ejabberd rows (issue #15, target 2): the same load (K c2s clients, chats to
// offline users) through a real ejabberd, with and without our module.
//   ejabberd-e2e    mod_xmpp_maildir writes each copy to its Mnesia outbox and sends it to the real
//                   component, which stores it in the Maildir; done at the last "stored" line.
//   ejabberd-alone  no module at all (not built, not installed): c2s and mod_offline alone; done
//                   when the last ping is answered.
// ejabberd's CPU is its Erlang VM's (beam.smp, all threads), found by the node name.
import path from "node:path";
import type { ComponentProcess } from "../harness/component.js";
import { ejabberdOutboxSize, startEjabberd, waitForEmptyOutbox, type EjabberdServer } from "../harness/ejabberd.js";
import { COMPONENT, DOMAIN, startStack, type EjabberdStack } from "../harness/stack.js";
import { makeTempDir, removeDir } from "../harness/tmp.js";
import type { TestClient } from "../harness/xmpp-client.js";
import { readFile } from "node:fs/promises";
import { connectSenders, drive, plan } from "./e2e-load.js";
import type { Phase } from "./e2e-report.js";
import { measure, SETTLE_TIMEOUT_MS, users, waitForStored } from "./e2e-run.js";
import { exactlyOnce, storedSubjects } from "./e2e-verify.js";
import { beamSchedulerThreads } from "./proc-stat.js";
import { registerInBand } from "../harness/xmpp-register.js";

/** Accounts are made by in-band registration (harness/xmpp-register.ts), which needs these. */
const REGISTRATION_MODULES = { mod_register: {} };
const REGISTRATION_CONFIG = "registration_timeout: infinity";

function registrar(server: EjabberdServer): { c2sPort: number; addUser(user: { username: string; password: string }): Promise<void> } {
  return { c2sPort: server.c2sPort, addUser: (user) => registerInBand(server.c2sPort, DOMAIN, user.username, user.password) };
}

/** Messages in mod_offline's Mnesia table (offline_msg, one record per stored message). */
async function offlineCount(server: EjabberdServer): Promise<number> {
  const info = await server.ctl(["mnesia_table_info", "offline_msg"]);
  const size = /\{size,(\d+)\}/.exec(info)?.[1];
  if (size === undefined) throw new Error(`no size in mnesia_table_info offline_msg:\n${info.slice(0, 500)}`);
  return Number(size);
}

function beam(server: EjabberdServer): { pid: number; threads: number[] } {
  const pid = server.beamPid();
  return { pid, threads: beamSchedulerThreads(pid) };
}

export async function runEjabberdE2e(k: number, ticks: number, messages: number, logLevel: string): Promise<Phase> {
  const label = "ejabberd-e2e";
  const dir = await makeTempDir(`xmd-bench-${label}-k${k}-`);
  let stack: EjabberdStack | undefined;
  let component: ComponentProcess | undefined;
  let clients: TestClient[] = [];
  try {
    stack = await startStack({ dir, users: [], server: "ejabberd", ejabberdModules: REGISTRATION_MODULES, ejabberdConfig: REGISTRATION_CONFIG });
    const { ejabberd } = stack;
    const { senders, recipients } = users(k);
    component = stack.component({ args: ["--log-level", logLevel] });
    await component.waitForLog((l) => l.msg === "connected to the XMPP server");
    clients = await connectSenders(registrar(ejabberd), stack.password, senders, recipients);
    const { perClient, expected } = plan(`${label}-k${k}`, messages, k, recipients);
    const running = component;
    const { seconds, use } = await measure({ server: beam(ejabberd), component: running.child.pid!, clients: process.pid }, ticks, async () => {
      const sending = Promise.all(clients.map((c, i) => drive(c, perClient[i]!)));
      sending.catch(() => undefined);
      const lastStoredAt = await waitForStored(running, messages);
      await sending;
      return lastStoredAt;
    });

    // Correctness, as for Prosody: the outbox drained, every message in its Maildir once,
    // mod_offline holding every message, no error in either log.
    await waitForEmptyOutbox(ejabberd, SETTLE_TIMEOUT_MS);
    const seen = await storedSubjects((user) => path.join(stack!.mailRoot, DOMAIN, user, "Maildir"), recipients);
    const problems = exactlyOnce(expected, seen);
    const storedLines = component.logs.filter((l) => l.msg === "stored").length;
    if (storedLines !== messages) problems.push(`${storedLines} "stored" lines for ${messages} messages`);
    const offline = await offlineCount(ejabberd);
    if (offline !== messages) problems.push(`mod_offline holds ${offline} of ${messages}`);
    const left = await ejabberdOutboxSize(ejabberd);
    if (left !== 0) problems.push(`${left} copies left in the outbox`);
    problems.push(...(await stack.serverErrors()));
    const clientErrors = clients.flatMap((c) => c.errors);
    if (clientErrors.length > 0) problems.push(`client errors: ${clientErrors.join("; ")}`);
    if (problems.length > 0) throw new Error(`${label}, K=${k}: not every message stored exactly once:\n  ${problems.join("\n  ")}`);

    const log = await readFile(ejabberd.logPath, "utf8");
    return {
      label,
      server: "ejabberd",
      k,
      messages,
      seconds,
      use,
      duplicates: component.logs.filter((l) => l.msg === "duplicate copy, already stored").length,
      pauses: log.match(/Pausing copies/g)?.length ?? 0,
      timeouts: log.match(/not confirmed within/g)?.length ?? 0,
    };
  } finally {
    await Promise.all(clients.map((c) => c.stop()));
    const code = await component?.stop();
    await stack?.stop();
    await removeDir(dir);
    if (code !== undefined && code !== 0) console.error(`# ${label} K=${k}: the component exited with ${code}`);
  }
}

/** The same load through an ejabberd without our module: done when the last ping is answered. */
export async function runEjabberdAlone(k: number, ticks: number, messages: number): Promise<Phase> {
  const label = "ejabberd-alone";
  const dir = await makeTempDir(`xmd-bench-${label}-k${k}-`);
  let ejabberd: EjabberdServer | undefined;
  let clients: TestClient[] = [];
  try {
    ejabberd = await startEjabberd({ dir, domain: DOMAIN, componentDomain: COMPONENT, componentSecret: "unused", users: [], withModule: false, modules: REGISTRATION_MODULES, extraConfig: REGISTRATION_CONFIG });
    const server = ejabberd;
    const { senders, recipients } = users(k);
    clients = await connectSenders(registrar(server), "pw-bench", senders, recipients);
    const { perClient } = plan(`${label}-k${k}`, messages, k, recipients);
    const { seconds, use } = await measure({ server: beam(server), clients: process.pid }, ticks, async () => {
      await Promise.all(clients.map((c, i) => drive(c, perClient[i]!)));
      return Date.now();
    });
    const offline = await offlineCount(server);
    if (offline !== messages) throw new Error(`${label}, K=${k}: mod_offline holds ${offline} of ${messages}`);
    return { label, server: "ejabberd", k, messages, seconds, use, duplicates: 0, pauses: 0, timeouts: 0 };
  } finally {
    await Promise.all(clients.map((c) => c.stop()));
    await ejabberd?.stop();
    await removeDir(dir);
  }
}
