/**
 * What the CLI does when it cannot write its output, for every command in one place. When the
 * reader goes away (`coraft status | head -1`, a pager quit early), a write fails with EPIPE:
 * the command ends at once and quietly — there is nobody left to tell — with exit status 0,
 * since the reader took all it wanted. Any other write error ends the command with one line on
 * stderr and status 1, never with a stack trace. bin/coraft.js installs the handling of
 * standard output and error; a command that writes a file of its own (`sim --trace FILE`) opens
 * it with {@link openOutputFile}, where `-` is standard output.
 */
import { createWriteStream } from 'node:fs';
import { describeError } from '../../contracts/errors.js';

/** The exit status of a command whose reader went away. */
export const EXIT_OUTPUT_CLOSED = 0;

/** The exit status of a command that could not write its output for another reason. */
export const EXIT_OUTPUT_FAILED = 1;

/** How the process ends; process.exit outside tests. */
export type Exit = (code: number) => void;

/** True for the error of a write to a pipe or socket whose reader has gone. */
export function isClosedOutputError(error: unknown): boolean {
  return error instanceof Error && 'code' in error && error.code === 'EPIPE';
}

/** Ends the process for the write error `error` of the output `what` (see the module comment). */
export function endOnOutputError(error: unknown, what: string, exit: Exit = (code) => process.exit(code)): void {
  if (isClosedOutputError(error)) {
    exit(EXIT_OUTPUT_CLOSED);
    return;
  }
  const message = describeError(error);
  // Writing to stderr may fail too (it may be the broken stream); the exit status still tells.
  if (what !== 'standard error') process.stderr.write(`coraft: cannot write ${what}: ${message}\n`);
  exit(EXIT_OUTPUT_FAILED);
}

/**
 * Installs the handling of write errors on standard output and error. Call it once, at start.
 * With `daemon` (the `agent` command), a reader that goes away does not end the process: an
 * agent whose log reader closed (a terminal gone, a journal restarted) keeps serving its
 * cluster, since exiting would look like a clean stop that `Restart=on-failure` leaves alone;
 * its lines are lost until a reader returns. Other write errors still end it with status 1.
 */
export function handleStandardOutputErrors(exit?: Exit, daemon = false): void {
  const handle = (what: string) => (error: Error) => {
    if (daemon && isClosedOutputError(error)) return;
    endOnOutputError(error, what, exit);
  };
  process.stdout.on('error', handle('standard output'));
  process.stderr.on('error', handle('standard error'));
}

/** A text output of a command: standard output or a file. */
export interface OutputFile {
  write(text: string): void;
  /** Flushes what was written and closes a file (standard output stays open). */
  close(): Promise<void>;
}

/** Opens `path` for writing (created or truncated); `-` is standard output. Write errors end the process as above. */
export function openOutputFile(path: string, exit?: Exit): OutputFile {
  if (path === '-') {
    return {
      write: (text) => void process.stdout.write(text),
      close: () => new Promise<void>((resolve) => process.stdout.write('', () => resolve())),
    };
  }
  const stream = createWriteStream(path);
  stream.on('error', (error) => endOnOutputError(error, path, exit));
  return {
    write: (text) => void stream.write(text),
    close: () => new Promise<void>((resolve) => stream.end(() => resolve())),
  };
}
