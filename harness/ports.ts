/**
 * Free loopback ports for test servers, and waiting until one answers.
 */
import net from "node:net";
import { pollUntil } from "./poll.js";

const LOOPBACK = "127.0.0.1";

/** Servers here start in well under a second, but CI shares 2 cores with the build. */
const DEFAULT_PORT_TIMEOUT_MS = 20_000;
/** Short enough that a started server is noticed almost at once; cheap loopback connects. */
const PORT_POLL_INTERVAL_MS = 50;
/** A loopback connect either succeeds or is refused at once; a hang means something odd. */
const CONNECT_ATTEMPT_TIMEOUT_MS = 1_000;

function listenOnEphemeral(): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once("error", reject);
    server.listen({ host: LOOPBACK, port: 0, exclusive: true }, () => resolve(server));
  });
}

function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function portOf(server: net.Server): number {
  const address = server.address();
  if (address === null || typeof address === "string") {
    throw new Error(`unexpected listening address: ${String(address)}`);
  }
  return address.port;
}

/**
 * `count` distinct free ports on 127.0.0.1. All listeners stay open until
 * every port is known, so the kernel cannot hand out the same port twice.
 * (Another process may still take one before our server binds it; that is
 * the accepted cost of not hard-coding ports.)
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < count; i++) servers.push(await listenOnEphemeral());
    return servers.map(portOf);
  } finally {
    await Promise.all(servers.map(closeServer));
  }
}

/** One free port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  if (port === undefined) throw new Error("no port allocated");
  return port;
}

/** Resolves true when a TCP connection to host:port is accepted, false otherwise. */
export function canConnect(port: number, host: string = LOOPBACK): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(CONNECT_ATTEMPT_TIMEOUT_MS, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

export interface WaitForPortOptions {
  host?: string;
  timeoutMs?: number;
  /** Abort the wait early, e.g. when the server process has exited. */
  signal?: AbortSignal;
}

/** Waits until host:port accepts a TCP connection; throws a clear error after the timeout. */
export async function waitForPort(port: number, opts: WaitForPortOptions = {}): Promise<void> {
  const host = opts.host ?? LOOPBACK;
  await pollUntil(async () => ((await canConnect(port, host)) ? true : undefined), {
    timeoutMs: opts.timeoutMs ?? DEFAULT_PORT_TIMEOUT_MS,
    intervalMs: PORT_POLL_INTERVAL_MS,
    signal: opts.signal,
    describe: () => `nothing accepted TCP connections on ${host}:${port}`,
  });
}
