// Proves the optional metrics backends load on demand: prom-client and hot-shots are imported
// only when a backend is created, and when one is not installed the agent gets a ConfigError
// that names the package to install (so it stops at start-up with EX_CONFIG), while any other
// failure of the import (a broken install) is not mistaken for a missing package. The
// production-install test (test/deploy/production-install.test.ts) runs the same path against
// an install without the packages.
import assert from 'node:assert/strict';
import { ConfigError } from '../../../contracts/errors.js';
import { importHotShots, importPromClient } from '../../../agent/observability/metrics.js';
import { importOptional } from '../../../agent/observability/optional-package.js';

const notFound = (message: string, code: string): Error => Object.assign(new Error(message), { code });
const isObject = (value: unknown): value is object => typeof value === 'object' && value !== null;
const isNothing = (value: unknown): value is never => value === Symbol.for('nothing');

describe('optional packages', () => {
  it('imports prom-client and hot-shots when they are installed', async () => {
    assert.equal(typeof (await importPromClient()).Registry, 'function');
    assert.equal(typeof (await importHotShots()).StatsD, 'function');
  });

  it('turns a missing package into a ConfigError naming what to install', async () => {
    for (const code of ['ERR_MODULE_NOT_FOUND', 'MODULE_NOT_FOUND']) {
      const failing = (): Promise<unknown> =>
        Promise.reject(notFound(`Cannot find package 'prom-client' imported from /x.js`, code));
      await assert.rejects(importOptional('prom-client', 'metrics.kind "prometheus"', failing, isObject), (error) => {
        assert.ok(error instanceof ConfigError);
        assert.equal(error.code, 'CONFIG_INVALID');
        assert.match(error.message, /metrics.kind "prometheus" needs the optional package prom-client/);
        assert.match(error.message, /install prom-client to use it/);
        return true;
      });
    }
  });

  it('rethrows other failures: a missing package inside it, or an error it throws', async () => {
    const inner = notFound(`Cannot find package 'tdigest' imported from /prom-client/index.js`, 'ERR_MODULE_NOT_FOUND');
    await assert.rejects(
      importOptional('prom-client', 'm', () => Promise.reject(inner), isObject),
      (e) => e === inner,
    );
    const broken = new SyntaxError('Unexpected token');
    await assert.rejects(
      importOptional('prom-client', 'm', () => Promise.reject(broken), isObject),
      (e) => e === broken,
    );
  });

  it('refuses a module that does not export what coraft uses', async () => {
    await assert.rejects(
      importOptional('hot-shots', 'metrics.kind "statsd"', () => Promise.resolve({}), isNothing),
      /metrics.kind "statsd": the installed hot-shots does not export what coraft uses/,
    );
  });
});
