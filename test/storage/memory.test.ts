// Proves the in-memory engine meets the PersistenceEngine contract: the shared suite of
// persistence-contract.ts run on engines over one MemoryDisk (reopen = a new engine on it).
import { memoryHarness } from './helpers.js';
import { persistenceContract } from './persistence-contract.js';

persistenceContract('memory', memoryHarness);
