// Proves that the client commands name a wrong verb as such: `coraft kv frob` and `coraft members
// frob` are refused as an unknown verb (with the verbs there are), not as a missing KEY, ID or
// admin key, which sent the operator after the wrong mistake. Each call fails before any request
// is sent (no endpoint listens here). And that every command refuses a positional argument it does
// not take, naming it, instead of ignoring it (`kv put k hello world` stored "hello"): the check
// sits in the shared parseOptions, so a few commands of each shape stand for all of them. And that
// a command loaded on demand (import()) throws the one UsageError class: main answers it with exit
// 2 and its message, and `instanceof` holds in the tests (the test files load as ES modules, as the
// on-demand imports do, so each module exists once).
import { strict as assert } from 'node:assert';
import sinon from 'sinon';
import { UsageError } from '../../../agent/cli/args.js';
import { runKv } from '../../../agent/cli/client-commands.js';
import { main } from '../../../agent/cli/main.js';
import { runAdmin, runLeader, runMembers, runSnapshot } from '../../../agent/cli/admin-commands.js';
import { runConfigCommand } from '../../../agent/cli/config.js';
import { runLease } from '../../../agent/cli/lease-command.js';
import { runProvisionCommand } from '../../../agent/cli/provision.js';

describe('client commands: usage errors', () => {
  const usageError = (pattern: RegExp) => (error: unknown) =>
    error instanceof UsageError && pattern.test(error.message);

  it('kv: an unknown verb is named, with or without a key', async () => {
    const verbs = /^kv: unknown verb "frob"; expected get, put, del, cas or list$/;
    await assert.rejects(runKv(['frob', '--endpoint', '127.0.0.1:9']), usageError(verbs));
    await assert.rejects(runKv(['frob', 'k', '--endpoint', '127.0.0.1:9']), usageError(verbs));
    await assert.rejects(runKv(['get', '--endpoint', '127.0.0.1:9']), usageError(/^kv get: KEY is required$/));
  });

  it('kv: an option of another verb is refused, not ignored (kv put --expect 3 wrote unconditionally)', async () => {
    const at = ['--endpoint', '127.0.0.1:9'];
    await assert.rejects(
      runKv(['put', 'k', 'v', '--expect', '3', ...at]),
      usageError(/^kv put: --expect is not one of its options \(kv cas, kv del take it\)$/),
    );
    await assert.rejects(runKv(['get', 'k', '--lease', '5', ...at]), usageError(/^kv get: --lease is not one/));
    await assert.rejects(runKv(['del', 'k', '--stale', ...at]), usageError(/^kv del: --stale is not one/));
    await assert.rejects(runKv(['del', 'k', '--expect', '0', ...at]), usageError(/expect/));
  });

  it('members: an unknown verb is named before a missing ID or admin key', async () => {
    const verbs = /^members: unknown verb "frob"; expected list, add, remove or rekey$/;
    await assert.rejects(runMembers(['frob', '--endpoint', '127.0.0.1:9']), usageError(verbs));
    await assert.rejects(runMembers(['frob', 'n2', '--endpoint', '127.0.0.1:9']), usageError(verbs));
    await assert.rejects(runMembers(['remove', '--endpoint', '127.0.0.1:9']), usageError(/ID is required$/));
  });

  it('refuses an extra positional argument, naming it', async () => {
    const at = ['--endpoint', '127.0.0.1:9'];
    const extra = (word: string, after: string) =>
      usageError(new RegExp(`^unexpected argument "${word}" after "${after}"$`));
    await assert.rejects(runKv(['put', 'k', 'hello', 'world', ...at]), extra('world', 'put k hello'));
    await assert.rejects(runKv(['get', 'k', 'more', ...at]), extra('more', 'get k'));
    // kv list is imported on demand (import()): the same UsageError class as the static imports.
    await assert.rejects(
      runKv(['list', 'p', ...at]),
      usageError(/^unexpected argument "p" after "p"$|^unexpected argument "p"/),
    );
    await assert.rejects(runMembers(['list', 'n1', ...at]), extra('n1', 'list'));
    await assert.rejects(runMembers(['remove', 'n2', 'n3', ...at]), extra('n3', 'remove n2'));
    await assert.rejects(runLeader(['transfer', 'n2', ...at]), extra('n2', 'transfer'));
    await assert.rejects(runLease(['grant', '1000', '2000', ...at]), extra('2000', 'grant 1000'));
    await assert.rejects(runSnapshot(['now', ...at]), usageError(/^unexpected argument "now"/));
    await assert.rejects(async () => runConfigCommand(['check', 'a.json', 'b.json']), extra('b.json', 'check a.json'));
    await assert.rejects(
      async () => runProvisionCommand(['--out', '/nonexistent', 'x']),
      usageError(/^unexpected argument "x"/),
    );
  });

  it('config check takes FILE or --config FILE, as the agent does, and names a missing one', async () => {
    await assert.rejects(async () => runConfigCommand(['check']), usageError(/^check: FILE is required/));
    await assert.rejects(async () => runConfigCommand(['check', 'a.json', '--config', 'b.json']), usageError(/once/));
    await assert.rejects(
      async () => runConfigCommand(['schema', '--config', 'a.json']),
      usageError(/--config goes with check/),
    );
    await assert.rejects(
      async () => runConfigCommand(['check', '--config', '/nonexistent/agent.json']),
      (error: unknown) => error instanceof Error && /nonexistent\/agent\.json/.test(error.message),
    );
  });

  it("names an unknown option without parseArgs' hint about positional arguments starting with '-'", async () => {
    await assert.rejects(
      async () => runConfigCommand(['check', '--conifg', 'a.json']),
      usageError(/^Unknown option '--conifg'$/),
    );
  });

  it('admin submit and admin set-key name a file they cannot read, as a usage error, before any request', async () => {
    await assert.rejects(
      runAdmin(['submit', '/nonexistent/cmd.json', '--endpoint', '127.0.0.1:9']),
      usageError(/^admin submit: cannot read \/nonexistent\/cmd\.json: .*ENOENT/),
    );
    await assert.rejects(
      runAdmin(['set-key', '--public-key', '/nonexistent/admin.pub', '--admin-key', '/nonexistent/admin.key']),
      usageError(/^--public-key: cannot read \/nonexistent\/admin\.pub/),
    );
  });

  it('main answers a usage error of a command it loads on demand with exit 2 and the message', async () => {
    const stderr = sinon.stub(process.stderr, 'write').returns(true);
    try {
      assert.equal(await main(['kv', 'frob', '--endpoint', '127.0.0.1:9']), 2);
      assert.match(String(stderr.args[0]?.[0]), /^coraft kv: kv: unknown verb "frob"/);
    } finally {
      stderr.restore();
    }
  });
});
