// Starting and stopping the component's small HTTP listeners (Dovecot push notifications, the
// metrics endpoint) the same way: listen resolves with the bound port or rejects with the listen
// error; stop drops open connections and waits for the close.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";

export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export async function close(server: Server | undefined): Promise<void> {
  if (!server) return;
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
