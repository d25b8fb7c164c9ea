/**
 * Proves issue 14 point 8 ("Files") on the real CLI (dist/, through bin/coraft.js), each case on
 * a node written by `coraft cluster init`:
 * - `coraft agent` refuses a secret file others may read or write, or that another user owns,
 *   with exit 78 and a message naming the file, its mode or owner and the chmod/chown to run:
 *   a 0644 node secret, a 0666 keystore (the link keys), a 0644 endpoint key, a node secret
 *   owned by uid 65534. The CLI refuses a 0644 --endpoint-key and --admin-key (exit 2, its usage
 *   code) before sending anything.
 * - After a real two-node run on lmdb (a write, a member added, a trace file in the data
 *   folder), under a umask of 022, each data folder is 0700 and every file in it 0600.
 * - An existing data folder of 0755 holding a 0644 file is tightened at start (and logged); one
 *   owned by another user is refused with exit 78 and the chown to run.
 * - `cluster init` and `coraft provision` write every secret to a temporary file, fsync it,
 *   rename it into place and fsync the folder (watched with strace; skipped, saying so, when
 *   strace is not installed).
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CORAFT_BIN, findFreePorts } from '../../../agent/cli/agent-processes.js';
import { adminKeyFile } from '../../../agent/cli/cluster-init.js';
import { EXIT } from '../../../agent/runtime/agent.js';
import { coraft, startCluster, endpointOf } from './helpers.js';

/** A uid no file here belongs to (nobody). */
const OTHER_UID = 65534;
const mode = (path: string): number => statSync(path).mode & 0o777;
const hasStrace = spawnSync('strace', ['-V']).status === 0;

describe('agent integration: secret files and the data folder', function () {
  this.timeout(90_000);
  let dir: string;
  let node: string;
  let config: string;

  beforeEach(async function () {
    dir = mkdtempSync(join(tmpdir(), 'coraft-modes-'));
    const basePort = await findFreePorts(2);
    const init = await coraft('cluster', 'init', '--nodes', '1', '--dir', dir, '--base-port', String(basePort));
    assert.equal(init.code, 0, init.stderr);
    node = join(dir, 'n1');
    config = join(node, 'agent.json');
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs the agent, which must stop at once with exit 78; returns its stderr. */
  async function refused(): Promise<string> {
    const run = await coraft('agent', '--config', config);
    assert.equal(run.code, EXIT.config, run.stderr);
    return run.stderr;
  }

  it('exits 78 on a node secret of mode 0644, naming the file and the chmod', async () => {
    const key = join(node, 'node.secret');
    chmodSync(key, 0o644);
    const stderr = await refused();
    assert.ok(stderr.includes(`psk.nodeSecretFile: secret file ${key} has mode 0644`), stderr);
    assert.ok(stderr.includes(`Run: chmod 600 ${key}`), stderr);
  });

  it('exits 78 on a keystore of mode 0666, naming the file and the chmod', async () => {
    const keystore = join(node, 'keystore.json');
    chmodSync(keystore, 0o666);
    const stderr = await refused();
    assert.ok(stderr.includes(`psk.keystoreFile: secret file ${keystore} has mode 0666`), stderr);
    assert.match(stderr, /other users may read and write it/);
    assert.ok(stderr.includes(`Run: chmod 600 ${keystore}`), stderr);
  });

  it('exits 78 on an endpoint key of mode 0644', async () => {
    const key = join(node, 'endpoint-kv.key');
    writeFileSync(key, `${'ab'.repeat(32)}\n`, { mode: 0o644 });
    chmodSync(key, 0o644);
    const parsed = JSON.parse(readFileSync(config, 'utf8')) as Record<string, unknown>;
    writeFileSync(
      config,
      JSON.stringify({ ...parsed, endpointKeys: { kv: { identity: 'kv', keyFile: 'endpoint-kv.key' } } }),
    );
    const stderr = await refused();
    assert.ok(stderr.includes(`endpointKeys.kv.keyFile: secret file ${key} has mode 0644`), stderr);
    assert.ok(stderr.includes(`Run: chmod 600 ${key}`), stderr);
  });

  it('exits 78 on a key owned by another user, naming the owner and the chown', async function () {
    if (process.getuid?.() !== 0) this.skip(); // chown needs root (the CI runs as root)
    const key = join(node, 'node.secret');
    chownSync(key, OTHER_UID, OTHER_UID);
    const stderr = await refused();
    assert.ok(stderr.includes(`psk.nodeSecretFile: secret file ${key} is owned by uid ${OTHER_UID}`), stderr);
    assert.match(stderr, new RegExp(`Run: chown \\S+ ${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  });

  it('the CLI refuses an --endpoint-key or --admin-key of mode 0644 before it sends anything', async () => {
    const key = join(node, 'loose.key');
    writeFileSync(key, `${'cd'.repeat(32)}\n`);
    chmodSync(key, 0o644);
    const status = await coraft('status', '--endpoint-key', key, '--endpoint', '127.0.0.1:9', '--timeout-ms', '200');
    assert.equal(status.code, 78, status.stderr);
    assert.ok(status.stderr.includes(`--endpoint-key: secret file ${key} has mode 0644`), status.stderr);
    const add = await coraft(
      'members',
      'add',
      'n9',
      '127.0.0.1:9',
      '--admin-key',
      key,
      '--cluster',
      'c',
      '--endpoint',
      '127.0.0.1:9',
      '--timeout-ms',
      '200',
    );
    assert.equal(add.code, 78, add.stderr);
    assert.ok(add.stderr.includes(`--admin-key: secret file ${key} has mode 0644`), add.stderr);
  });

  it('tightens an existing data folder of 0755 and its 0644 files at start, and says so', async () => {
    const data = join(node, 'data');
    mkdirSync(data);
    chmodSync(data, 0o755);
    writeFileSync(join(data, 'left-over'), 'x');
    chmodSync(join(data, 'left-over'), 0o644);
    let log = '';
    const { cluster } = await startCluster({ dir, nodes: 1, output: (_id, chunk) => (log += chunk) });
    await cluster.close();
    assert.equal(mode(data), 0o700);
    assert.equal(mode(join(data, 'left-over')), 0o600);
    const warnings = log
      .split('\n')
      .filter((line) => line.includes('data folder: removed group and other permissions'));
    assert.deepEqual(warnings.map((line) => (JSON.parse(line) as { path: string }).path).sort(), [
      data,
      join(data, 'left-over'),
    ]);
  });

  it('exits 78 when another user owns the data folder, naming the chown', async function () {
    if (process.getuid?.() !== 0) this.skip(); // chown needs root
    const data = join(node, 'data');
    mkdirSync(data, { mode: 0o755 });
    chownSync(data, OTHER_UID, OTHER_UID);
    const stderr = await refused();
    assert.ok(stderr.includes(`dataDir: ${data} is owned by uid ${OTHER_UID}`), stderr);
    assert.match(stderr, /Run: chown -R \S+ .*&& chmod 700 /);
  });

  it('leaves every data folder 0700 and every file in it 0600 after a real lmdb run, under umask 022', async () => {
    // The agents inherit a loose umask: their modes must not depend on it.
    const previous = process.umask(0o022);
    const traces = (id: string): string => join(dir, 'c', id, 'data', 'trace.jsonl');
    try {
      const { cluster } = await startCluster({
        dir: join(dir, 'c'),
        nodes: 2,
        initialMembers: 1,
        startCount: 1,
        agentArgs: (id) => ['--trace', traces(id)],
      });
      try {
        const n2 = cluster.agent('n2').init;
        cluster.start('n2');
        const add = await coraft(
          'members',
          'add',
          'n2',
          JSON.parse(readFileSync(n2.config, 'utf8')).listen.peer,
          '--admin-key',
          adminKeyFile(join(dir, 'c')),
          '--endpoint',
          endpointOf(cluster, 'n1'),
        );
        assert.equal(add.code, 0, add.stderr + add.stdout);
        const put = await coraft('kv', 'put', 'k', 'v', '--endpoint', endpointOf(cluster, 'n1'));
        assert.equal(put.code, 0, put.stderr);
      } finally {
        await cluster.close();
      }
    } finally {
      process.umask(previous);
    }
    for (const id of ['n1', 'n2']) {
      const data = join(dir, 'c', id, 'data');
      assert.equal(mode(data), 0o700, data);
      const names = readdirSync(data);
      for (const expected of ['data.mdb', 'lock.mdb', 'trace.jsonl', 'owner.json'])
        assert.ok(names.includes(expected), `${id}: ${expected} in ${names.join(', ')}`);
      assert.ok(
        names.some((name) => name.startsWith('wal-')),
        `${id}: a WAL segment in ${names.join(', ')}`,
      );
      for (const name of names) assert.equal(mode(join(data, name)).toString(8), '600', `${id}/data/${name}`);
    }
    assert.ok(readdirSync(join(dir, 'c', 'n1', 'data')).includes('keystore-cache.json'), 'n1 cached its link with n2');
  });

  describe('secrets are synced before they are renamed into place', () => {
    /**
     * Runs `coraft ARGS` under strace and returns, for every file renamed into place under
     * `root`, whether its temporary file was fsynced before the rename and its folder after.
     */
    function syncedRenames(root: string, args: readonly string[]): Map<string, boolean> {
      const log = join(dir, 'strace.log');
      const run = spawnSync(
        'strace',
        [
          '-f',
          '-qq',
          '-e',
          'trace=openat,fsync,fdatasync,close,rename,renameat,renameat2',
          '-o',
          log,
          process.execPath,
          CORAFT_BIN,
          ...args,
        ],
        { encoding: 'utf8' },
      );
      assert.equal(run.status, 0, run.stderr);
      const open = new Map<string, string>(); // "pid fd" -> path
      const synced = new Set<string>();
      const pending = new Map<string, boolean>(); // target -> temporary synced; waits for its folder's sync
      const result = new Map<string, boolean>();
      for (const line of readFileSync(log, 'utf8').split('\n')) {
        // strace pads the pid to five columns: "7649  openat(...)" has two spaces, "12345 openat" one.
        const opened = /^(\d+) +openat\(AT_FDCWD, "([^"]+)".* = (\d+)$/.exec(line);
        if (opened !== null) open.set(`${opened[1]} ${opened[3]}`, opened[2] ?? '');
        const sync = /^(\d+) +f(?:data)?sync\((\d+)\) += 0$/.exec(line);
        const path = sync === null ? undefined : open.get(`${sync[1]} ${sync[2]}`);
        if (path !== undefined) {
          synced.add(path);
          for (const [target, ok] of pending) {
            if (join(target, '..') !== path) continue;
            result.set(target, ok);
            pending.delete(target);
          }
        }
        const renamed = /^\d+ +rename(?:at2?)?\((?:AT_FDCWD, )?"([^"]+)", (?:AT_FDCWD, )?"([^"]+)".* = 0$/.exec(line);
        if (renamed !== null && (renamed[2] ?? '').startsWith(root))
          pending.set(renamed[2] ?? '', synced.has(renamed[1] ?? ''));
      }
      for (const target of pending.keys()) result.set(target, false);
      return result;
    }

    it('in cluster init and coraft provision', function () {
      if (!hasStrace) this.skip(); // strace is not installed here
      const cluster = join(dir, 'traced');
      const init = syncedRenames(cluster, ['cluster', 'init', '--nodes', '2', '--dir', cluster]);
      for (const id of ['n1', 'n2']) {
        for (const name of ['node.secret', 'keystore.json', 'admin.pub', 'agent.json'])
          assert.equal(init.get(join(cluster, id, name)), true, `${id}/${name}: ${JSON.stringify([...init])}`);
      }
      for (const name of ['secrets/fleet.json', 'secrets/admin.key']) {
        assert.equal(
          init.get(join(cluster, 'provisioner', name)),
          true,
          `provisioner/${name}: ${JSON.stringify([...init])}`,
        );
      }
      const inventory = join(dir, 'fleet.json');
      writeFileSync(
        inventory,
        JSON.stringify({ cluster: 'plant-a', gateways: [{ id: 'gw1', address: '10.0.0.1:5684' }] }),
      );
      const out = join(dir, 'fleet');
      const provisioned = syncedRenames(out, ['provision', '--inventory', inventory, '--out', out]);
      for (const name of [
        'secrets/fleet.json',
        'secrets/admin.key',
        'bundles/gw1/node.secret',
        'bundles/gw1/keystore.json',
        'bundles/gw1/endpoint-kv.key',
        'bundles/gw1/endpoint-admin.key',
        'bundles/gw1/admin.pub',
        'bundles/gw1/agent.json',
      ]) {
        assert.equal(provisioned.get(join(out, name)), true, `${name}: ${JSON.stringify([...provisioned])}`);
      }
    });
  });
});
