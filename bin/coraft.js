#!/usr/bin/env node
// The installed entry point: runs the compiled CLI from dist/ (built by `npm run build`,
// which `npm ci` runs through the prepare script).
import { main } from '../dist/agent/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (error) => {
    process.stderr.write(`coraft: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
