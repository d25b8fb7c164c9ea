// Proves option validation: defaults pass, and every bad field is reported by name with its
// limit in one ConfigError (STYLE §4), including the 2^20-block bound that relates body size
// and block size.
import { strict as assert } from 'node:assert';
import { ConfigError } from '../../../agent/contracts.js';
import { resolveCoapClientOptions, resolveCoapServerOptions } from '../../../transport/coap/config.js';
import { resolveHttpClientOptions, resolveHttpServerOptions } from '../../../transport/http/config.js';

function problemsOf(build: () => unknown): readonly string[] {
  try {
    build();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('transport options', () => {
  it('accepts the defaults', () => {
    resolveCoapClientOptions();
    resolveCoapServerOptions();
    resolveHttpClientOptions();
    resolveHttpServerOptions();
  });

  it('names every bad field with its limit', () => {
    const client = problemsOf(() => resolveCoapClientOptions({ ackTimeoutMs: 5, blockBytes: 1000, outstandingPerPeerMax: 0 }));
    assert.equal(client.length, 4, client.join('; '));
    assert.ok(client.some((p) => p.startsWith('ackTimeoutMinMs must be an integer in [1, 5]')), 'a limit that depends on another field');
    assert.ok(client.some((p) => p.startsWith('ackTimeoutMs must be an integer in [10, 60000]')));
    assert.ok(client.some((p) => p.startsWith('blockBytes must be a power of two')));
    const server = problemsOf(() => resolveCoapServerOptions({ blockBytes: 16, bodyBytesMax: 64 * 1024 * 1024, duplicateCacheLifetimeMs: 300_000 }));
    assert.ok(server.some((p) => p.startsWith('bodyBytesMax must be at most blockBytes × 2^20')));
    assert.ok(server.some((p) => p.startsWith('duplicateCacheLifetimeMs')));
    assert.ok(problemsOf(() => resolveHttpServerOptions({ requestTimeoutMs: 500 })).some((p) => p.startsWith('requestTimeoutMs')));
  });
});
