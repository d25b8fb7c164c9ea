/**
 * What bin/coraft.js runs: the CLI on this process's arguments, its exit code set on the process.
 * The entry point of the bundled CLI (dist/bundle/coraft.cjs, built by deploy/build-bundle.ts).
 */
import { describeError } from '../../contracts/errors.js';
import type { CodeCacheHooks } from './code-cache.js';
import { main } from './main.js';
import { EXIT_OUTPUT_CLOSED, handleStandardOutputErrors, isClosedOutputError } from './output.js';

/**
 * Runs `coraft` with `args` (without node and script); the exit code goes to process.exitCode.
 * `hooks` come from the loader that compiled the bundle with a code cache (`coraft agent` only).
 */
export function runCli(args: readonly string[], hooks?: CodeCacheHooks): void {
  // Every command ends quietly when its reader goes away (`coraft status | head -1`); the agent
  // keeps serving (see handleStandardOutputErrors).
  handleStandardOutputErrors(undefined, args[0] === 'agent');
  main(args, hooks).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      if (isClosedOutputError(error)) {
        process.exitCode = EXIT_OUTPUT_CLOSED;
        return;
      }
      process.stderr.write(`coraft: ${describeError(error)}\n`);
      process.exitCode = 1;
    },
  );
}
