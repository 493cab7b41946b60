// What a replay run is given and what it gives back (engine.ts, stream.ts, handle.ts).
import type { Logger } from "../log/index.js";
import type { Checkpoint } from "./checkpoint.js";
import type { Pacer } from "./pacer.js";
import type { Progress } from "./progress.js";
import type { Selection } from "./selection.js";
import type { Summary } from "./summary.js";
import type { Source, SourceEntry, StreamSource, Target } from "./types.js";

export interface ReplayJob {
  readonly source: Source | StreamSource;
  readonly target: Target;
  readonly selection: Selection;
  readonly checkpoint: Checkpoint | undefined;
  readonly progress: Progress;
  readonly pacer: Pacer;
  /** Deliveries in flight for unordered targets (Maildir); ordered targets always get one. */
  readonly concurrency: number;
  readonly logger: Logger;
  readonly dryRun: boolean;
  readonly signal?: AbortSignal | undefined;
  /** Dry run: told what would be done with each entry. */
  readonly onPlan?: ((entry: SourceEntry, what: string) => void) | undefined;
}

export interface ReplayResult {
  readonly summary: Summary;
  /** Set when the run stopped early because nothing could succeed (the server refused us). */
  readonly fatal: Error | undefined;
}

