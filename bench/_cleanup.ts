/**
 * Resources a bench must release however it ends: clusters to stop and temporary folders to
 * remove at the end of a run, on an error, and on Ctrl-C (SIGINT) or SIGTERM, after which the
 * process exits 130 or 143 as a shell expects; and folders removed even when the process is killed.
 */
import { spawn } from 'node:child_process';
import { describeError } from '../contracts/errors.js';

/** Something to close. */
export interface Closable {
  close(): Promise<void>;
}

/** Longest wait for the resources to close after a signal, ms; then the process exits anyway. */
const SIGNAL_CLOSE_BOUND_MS = 30_000;

export class Cleanup {
  private readonly items: Closable[] = [];
  private running: Promise<void> | null = null;

  /** Registers `item`, to be closed by run(), last registered first; returns it. */
  add<T extends Closable>(item: T): T {
    this.items.push(item);
    return item;
  }

  /**
   * Registers `item`, which owns the folder `item.dir`, and a watchdog that removes that folder
   * even if this process is killed; the item is closed first, then the watchdog. Returns it.
   */
  addOwner<T extends Closable & { readonly dir: string }>(item: T): T {
    this.add(removeWhenGone(item.dir));
    return this.add(item);
  }

  /**
   * Closes every registered item once (later calls wait for the first); errors are reported, not thrown, so every item
   * gets its turn.
   */
  run(report: (line: string) => void = () => undefined): Promise<void> {
    this.running ??= (async () => {
      for (const item of [...this.items].reverse()) {
        try {
          await item.close();
        } catch (error) {
          report(`cleanup failed: ${describeError(error)}`);
        }
      }
    })();
    return this.running;
  }

  /** On SIGINT or SIGTERM: closes everything, then exits. Returns a function that removes the handlers. */
  onSignals(report: (line: string) => void): () => void {
    const handler = (signal: NodeJS.Signals): void => {
      report(`${signal}: stopping the clusters and removing their folders`);
      const bound = setTimeout(() => process.exit(signal === 'SIGINT' ? 130 : 143), SIGNAL_CLOSE_BOUND_MS);
      void this.run(report).finally(() => {
        clearTimeout(bound);
        process.exit(signal === 'SIGINT' ? 130 : 143);
      });
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
    return () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    };
  }
}

// $1 the folder: wait for stdin to close (this process ended, however it ended), give the
// processes it ran a moment to exit, then remove the folder.
const FOLDER_WATCHDOG = 'trap "" INT; cat >/dev/null; sleep 2; rm -rf "$1"';

/**
 * Removes `dir` when this process ends, even when it is killed outright (SIGKILL), through a
 * small sh process that waits for its stdin pipe to close. Closing the returned item ends it
 * now (after the folder's own owner has removed it, normally).
 */
export function removeWhenGone(dir: string): Closable {
  const watchdog = spawn('/bin/sh', ['-c', FOLDER_WATCHDOG, 'folder-watchdog', dir], {
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  watchdog.unref();
  return {
    close: () =>
      new Promise<void>((done) => {
        if (watchdog.exitCode !== null || watchdog.signalCode !== null) return done();
        // Held until it exits, so that this process waits for the folder to go.
        watchdog.ref();
        watchdog.once('exit', () => done());
        watchdog.stdin.end();
      }),
  };
}
