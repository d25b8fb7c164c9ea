// Property 10 for the LMDB engine: see model-property.ts (arbitrary writes and reopens leave
// it in the same observable state as the memory engine). Replay with FC_SEED=... FC_PATH=....
import { LmdbPersistenceEngine } from '../../../storage/lmdb/lmdb-engine.js';
import { lmdbTestOptions } from '../helpers.js';
import { modelProperty } from '../model-property.js';

modelProperty('LMDB', (dir) => LmdbPersistenceEngine.open(lmdbTestOptions(dir)));
