// Property 9 with real crashes for the LMDB engine: see crash-property.ts. 24 kills with the
// mixed workload and 8 with the snapshot workload, each after 0-200 ms of writing, on one
// directory. Replay with CRASH_SEED=<seed>.
import { crashProperty } from '../crash-property.js';

crashProperty('lmdb', { mixed: 24, snapshots: 8 });
