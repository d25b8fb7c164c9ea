/**
 * Output a library writes to the console itself (lmdb-js prints the error of a failed commit with
 * console.error, a raw multi-line stack, before it rejects the commit, which the storage engine
 * reports on its own): routed into the agent's log as one warning record each, so the log stays
 * one JSON record a line and says where the text came from. The agent's own loggers never use the
 * console (loggers.ts), so nothing loops.
 */
import { format } from 'node:util';
import type { DiagnosticLogger } from '../../contracts/logger.js';

/** Most characters of one library message kept (a stack is a few hundred). */
const LIBRARY_TEXT_CHARS_MAX = 2000;

/** Routes console.error and console.warn to `logger` until the returned function puts them back. */
export function routeLibraryConsole(logger: DiagnosticLogger, node: string): () => void {
  const saved = { error: console.error, warn: console.warn };
  const route = (...args: unknown[]): void => {
    const text = format(...args)
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '')
      .join(' | ');
    logger.warning('output of a library (not of coraft; the agent reports its own errors)', {
      node,
      text: text.slice(0, LIBRARY_TEXT_CHARS_MAX),
    });
  };
  console.error = route;
  console.warn = route;
  return () => {
    console.error = saved.error;
    console.warn = saved.warn;
  };
}
