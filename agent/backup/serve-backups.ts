/**
 * An agent's backups: the BackupService of its node (backup-service.ts), its resources added to
 * the local endpoint (agent/endpoint/backup-resources.ts, admin identity only), as the agent
 * assembles them (agent/runtime/agent.ts). Their timers (idle expiry, the wait for the read
 * index) do not hold the process: a stopping agent has no backup to finish (the client's
 * transfer fails and `coraft backup` removes its partial file), and its frozen state goes with it.
 */
import type { Timers } from '../../contracts/clock.js';
import type { AgentConfig } from '../config/agent-config.js';
import { backupResources } from '../endpoint/backup-resources.js';
import { DEFAULT_LOCAL_ENDPOINT_OPTIONS, type LocalEndpoint } from '../endpoint/local-endpoint.js';
import type { RaftNodeImpl } from '../runtime/node.js';
import type { TrustedStateMachine } from '../trust/trusted-state-machine.js';
import { BackupService } from './backup-service.js';

/** Real time whose timers never keep the process alive. */
const UNREF_TIMERS: Timers = {
  nowMs: () => Date.now(),
  setTimer: (delayMs, callback) => {
    const handle = setTimeout(callback, Math.max(0, delayMs));
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
};

/** Builds the backups of `node` and serves them on `endpoint`. */
export function serveBackups(
  endpoint: LocalEndpoint,
  node: RaftNodeImpl,
  stateMachine: TrustedStateMachine,
  config: AgentConfig,
): BackupService {
  const cluster = config.cluster;
  const backups = new BackupService({
    nodeId: config.nodeId,
    readAnywhere: (query, timeoutMs) => node.readAnywhere(query, timeoutMs),
    stateMachine,
    termAt: (index) => node.requireCore().termAt(index),
    authority:
      cluster === null
        ? null
        : {
            cluster,
            adminKey: () => stateMachine.trust.adminKey(),
            nonceSeen: (nonce: string) => stateMachine.trust.nonceSeen(nonce),
          },
    timers: UNREF_TIMERS,
    wallClockMs: () => Date.now(),
  });
  const access = { kv: config.endpointKeys.kv?.identity ?? null, admin: config.endpointKeys.admin?.identity ?? null };
  const timeoutMs = DEFAULT_LOCAL_ENDPOINT_OPTIONS.adminTimeoutMs;
  for (const [path, methods] of backupResources(backups, timeoutMs, access, node))
    endpoint.server.addResource(path, methods);
  return backups;
}
