#!/usr/bin/env node
// The installed entry point: runs the bundled CLI, dist/bundle/coraft.cjs, one CommonJS file built
// by `npm run build` with esbuild (deploy/build-bundle.ts; `npm ci` builds it through the prepare
// script). One file to read and compile instead of the ~250 ES modules of dist/ is most of the
// agent's start-up time (issue 17); `coraft agent` also compiles it with a V8 code cache
// (agent/cli/code-cache.ts, bundled as dist/bundle/loader.js).
import { fileURLToPath } from 'node:url';
import { startCli } from '../dist/bundle/loader.js';

startCli(fileURLToPath(new URL('../dist/bundle/coraft.cjs', import.meta.url)), process.argv.slice(2));
