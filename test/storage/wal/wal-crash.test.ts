// Property 9 with real crashes for the write-ahead-log engine: see crash-property.ts. The
// engine checkpoints every 2 KiB in 1 KiB LMDB transactions on 1 MiB segments
// (crash-engines.ts), so the kills land in the middle of log appends, checkpoints, segment
// creation and deletion, and (snapshot workload) batches that bypass the log. Both sync modes
// are killed: auto (inline syncs of single writes, checkpoints on the main thread, the
// defaults) and background with checkpoints every 256 KiB in the checkpoint worker. The large
// workload (2-5 KiB entries) fills several segments a round, so kills also land while a segment
// below the checkpoint is kept as the spare and recycled into the next one (wal-segments.ts).
// Replay with CRASH_SEED=<seed>.
import { crashProperty } from '../crash-property.js';

crashProperty('wal', { mixed: 24, snapshots: 8, large: 12 });
crashProperty('wal-background', { mixed: 12, snapshots: 4, large: 6 });
