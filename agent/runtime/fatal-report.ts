/**
 * The record the node logs when it stops on a fatal error. A full disk (STORAGE_FULL: the log or
 * the store could not be written for want of space) is an operating condition, not a bug, so its
 * record says so plainly: which path, that nothing acknowledged is lost, and what to do. So is a
 * member left out by a recovery (LeftOutError), whose error says what to do.
 */
import { LeftOutError, RaftError, describeError } from '../../contracts/errors.js';
import type { LogFields } from '../../contracts/logger.js';

/** The message and fields of the critical record of `error`, which stopped node `nodeId`. */
export function fatalReport(nodeId: string, error: unknown): { readonly message: string; readonly fields: LogFields } {
  const text = describeError(error);
  const code = error instanceof RaftError ? error.code : 'UNKNOWN';
  // A member a recovery left out (recovery-epoch.ts): not a fault of this node, and the error says what to do.
  if (error instanceof LeftOutError)
    return { message: 'left out by a recovery: stopping the node', fields: { node: nodeId, error: text, code } };
  if (code !== 'STORAGE_FULL')
    return { message: 'fatal error; stopping the node', fields: { node: nodeId, error: text, code } };
  return {
    message: 'disk full: stopping the node',
    fields: {
      node: nodeId,
      error: text,
      code,
      safe:
        'no acknowledged write is lost: a write is answered only once its log entry is synced, and the write ' +
        'that failed, and every later one, was not acknowledged (its client got an error or no answer)',
      action:
        'free space on the file system named above (or grow it), then start the agent again: it replays its ' +
        'log from disk and catches up with the cluster',
    },
  };
}
