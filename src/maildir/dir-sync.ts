// fsync of a directory, shared by the renames that need it. An fsync of new/ makes every rename
// into new/ that happened before it started durable, so renames that finish while one is running
// wait for the next one, and all of them share it: a burst of N mails to one Maildir costs about
// two directory fsyncs instead of N. A failed fsync fails every rename that waited on it (none is
// confirmed; the server module sends them again).
import { syncDir } from "./sync-io.js";

interface DirState {
  /** The fsync running now: it may have started before the caller's rename, so it cannot count. */
  running: Promise<void> | undefined;
  /** The next fsync, started once `running` ends: it covers every rename made before then. */
  next: Promise<void> | undefined;
}

export interface DirSyncer {
  /** Resolves once an fsync of `dir` that started after this call has completed. */
  sync(dir: string): Promise<void>;
}

export function createDirSyncer(fsyncDir: (dir: string) => Promise<void> = syncDir): DirSyncer {
  const dirs = new Map<string, DirState>();

  function start(dir: string, state: DirState): Promise<void> {
    const run = fsyncDir(dir).finally(() => {
      state.running = undefined;
      if (!state.next) dirs.delete(dir);
    });
    state.running = run;
    return run;
  }

  return {
    sync(dir) {
      let state = dirs.get(dir);
      if (!state) {
        state = { running: undefined, next: undefined };
        dirs.set(dir, state);
      }
      const { running } = state;
      if (!running) return start(dir, state);
      if (!state.next) {
        const s = state;
        s.next = running
          .catch(() => undefined)
          .then(() => {
            s.next = undefined;
            return start(dir, s);
          });
      }
      return state.next!;
    },
  };
}
