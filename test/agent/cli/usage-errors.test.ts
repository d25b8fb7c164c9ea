// Proves that the client commands name a wrong verb as such: `coraft kv frob` and `coraft members
// frob` are refused as an unknown verb (with the verbs there are), not as a missing KEY, ID or
// admin key, which sent the operator after the wrong mistake. Each call fails before any request
// is sent (no endpoint listens here).
import { strict as assert } from 'node:assert';
import { UsageError } from '../../../agent/cli/args.js';
import { runKv } from '../../../agent/cli/client-commands.js';
import { runMembers } from '../../../agent/cli/admin-commands.js';

describe('client commands: usage errors', () => {
  const usageError = (pattern: RegExp) => (error: unknown) =>
    error instanceof UsageError && pattern.test(error.message);

  it('kv: an unknown verb is named, with or without a key', async () => {
    const verbs = /^kv: unknown verb "frob"; expected get, put, del, cas or list$/;
    await assert.rejects(runKv(['frob', '--endpoint', '127.0.0.1:9']), usageError(verbs));
    await assert.rejects(runKv(['frob', 'k', '--endpoint', '127.0.0.1:9']), usageError(verbs));
    await assert.rejects(runKv(['get', '--endpoint', '127.0.0.1:9']), usageError(/^kv get: KEY is required$/));
  });

  it('members: an unknown verb is named before a missing ID or admin key', async () => {
    const verbs = /^members: unknown verb "frob"; expected list, add, remove or rekey$/;
    await assert.rejects(runMembers(['frob', '--endpoint', '127.0.0.1:9']), usageError(verbs));
    await assert.rejects(runMembers(['frob', 'n2', '--endpoint', '127.0.0.1:9']), usageError(verbs));
    await assert.rejects(runMembers(['remove', '--endpoint', '127.0.0.1:9']), usageError(/ID is required$/));
  });
});
