#!/usr/bin/env node
// The installed entry point: runs the compiled CLI from dist/ (built by `npm run build`,
// which `npm ci` runs through the prepare script).
import { main } from '../dist/agent/cli/main.js';
import { EXIT_OUTPUT_CLOSED, handleStandardOutputErrors, isClosedOutputError } from '../dist/agent/cli/output.js';
import { describeError } from '../dist/contracts/errors.js';

// Every command ends quietly when its reader goes away (`coraft status | head -1`); the agent
// keeps serving (see handleStandardOutputErrors).
handleStandardOutputErrors(undefined, process.argv[2] === 'agent');

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    if (isClosedOutputError(error)) {
      process.exitCode = EXIT_OUTPUT_CLOSED;
      return;
    }
    process.stderr.write(`coraft: ${describeError(error)}\n`);
    process.exitCode = 1;
  },
);
