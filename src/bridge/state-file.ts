// The bridge's small state files (push-state.json, smtp-limits.json): written whole to a temp file,
// synced, then renamed over the old one, so a crash leaves either the old file or the new one.
import { mkdir, open, rename } from "node:fs/promises";
import { StorageError } from "../errors.js";

export async function writeStateFile(stateDir: string, file: string, data: unknown): Promise<void> {
  const tmp = `${file}.tmp`;
  try {
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    const handle = await open(tmp, "w", 0o600);
    try {
      await handle.writeFile(JSON.stringify(data));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  } catch (err) {
    throw new StorageError(file, err as NodeJS.ErrnoException);
  }
}
