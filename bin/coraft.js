#!/usr/bin/env node
// The installed entry point: runs the bundled CLI, dist/bundle/coraft.cjs, one CommonJS file built
// by `npm run build` with esbuild (deploy/build-bundle.ts; `npm ci` builds it through the prepare
// script). One file to read and compile instead of the ~250 ES modules of dist/ is most of the
// agent's start-up time (issue 17); `coraft agent` also compiles it with a V8 code cache
// (agent/cli/code-cache.ts, bundled as dist/bundle/loader.cjs).
//
// This file and the loader are CommonJS (bin/package.json): an ES module entry makes Node.js load
// its ES module loader, 18 more of its own modules, which an agent would carry for its whole life
// (issue 17: about 1.5 MiB more RSS at rest, and their compilation at every start).
'use strict';
const { join } = require('node:path');
const { startCli } = require('../dist/bundle/loader.cjs');

startCli(join(__dirname, '..', 'dist', 'bundle', 'coraft.cjs'), process.argv.slice(2));
