// Property 9 with real crashes for the write-ahead-log engine: see crash-property.ts. The
// engine checkpoints every 2 KiB in 1 KiB LMDB transactions on 1 MiB segments
// (crash-engines.ts), so the kills land in the middle of log appends, checkpoints, segment
// creation and deletion, and (snapshot workload) batches that bypass the log. Both sync modes
// are killed: auto (inline syncs of single writes, checkpoints on the main thread, the
// defaults) and background with checkpoints every 256 KiB in the checkpoint worker. The large
// workload (2-5 KiB entries) fills several segments a round, so kills also land while a segment
// below the checkpoint is kept as the spare and recycled into the next one (wal-segments.ts).
// The test options cap a frame at 64 KiB, exactly a new segment's first step of zeros, so the
// engine is also killed with the options the agent opens it with (`wal-defaults`: 16 MiB
// segments, frames up to 4 MiB, checkpoints every 3 MiB), under the large workload and the bulk
// one (every append 68-282 KiB), for up to 400 ms a round so that rounds fill 16 MiB segments:
// frames larger than a new segment's first step and than a growth step (1 MiB) are written at
// the start of new and recycled segments, and recovery replays megabytes across segments. With
// c893809's fix reverted (a frame written past a new segment's first step, then zeroed by its
// growth), the large case failed 9 and the bulk case 10 of seeds 1-10.
// Replay with CRASH_SEED=<seed>.
import { crashProperty } from '../crash-property.js';

crashProperty('wal', { mixed: 24, snapshots: 8, large: 12 });
crashProperty('wal-background', { mixed: 12, snapshots: 4, large: 6 });
crashProperty('wal-defaults', { large: 20, bulk: 20 }, 400);
