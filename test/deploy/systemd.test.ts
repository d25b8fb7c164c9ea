// Proves the install path and the unit: deploy/install.sh lays a provisioned bundle into a
// temporary root (--destdir, --no-package: no npm) with agent.json, the link keys, node secret,
// endpoint keys and admin public key mode 0640
// under /etc/coraft (0750) and /var/lib/coraft 0700, whatever the umask, plus the unit and the
// gateway's drop-in. Ownership (root:coraft for /etc/coraft and its files, coraft:coraft for the
// state folder) is checked twice: on the real files when this host has a coraft user and the
// test runs as root, and always through `chown`/`id` stand-ins on PATH that record what the
// script asks for (so the chown lines run in every CI, without creating users here). The
// agent's loader, run as nobody:nogroup on a copy owned root:nogroup (standing for the coraft
// user and group), accepts the installed 0640 files and refuses a group-writable key. Then
// `systemd-analyze verify` accepts the installed unit (ExecStart pointed into the temporary
// root, where a stand-in executable sits) without a single warning, and
// `systemd-analyze security --offline=yes` rates its exposure under 2.0. The systemd checks are
// skipped, saying so, only when systemd-analyze is not installed. MemoryHigh, MemoryMax and the
// Node heap flags of the unit and of the drop-in follow agent/fleet/memory-sizing.ts. The unit
// gives the agent a cache folder (CacheDirectory=), where the loader puts its V8 code cache.
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CORAFT_BIN } from '../../agent/cli/agent-processes.js';
import { cacheFolder } from '../../agent/cli/code-cache.js';
import { provisionFleet } from '../../agent/cli/provision.js';
import {
  UNIT_MALLOC_ENV,
  UNIT_MEMORY_MAX_MIB,
  UNIT_NODE_FLAGS,
  memoryLinesFor,
} from '../../agent/fleet/memory-sizing.js';

const ROOT = resolve(import.meta.dirname, '../..');
/** What install.sh puts in /etc/coraft for gateway gw2. */
const INSTALLED = ['agent.json', 'keystore.json', 'node.secret', 'endpoint-kv.key', 'endpoint-admin.key', 'admin.pub'];
const NOBODY = 65534;
const NOGROUP = 65534;
const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

describe('install.sh and systemd/coraft.service', function () {
  this.timeout(60_000);
  let dir: string;
  let destdir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'coraft-install-'));
    destdir = join(dir, 'root');
    writeFileSync(
      join(dir, 'fleet.json'),
      JSON.stringify({
        cluster: 'plant-a',
        defaults: { memoryMax: '128M' },
        gateways: [
          { id: 'gw1', address: '10.0.0.1:5684' },
          { id: 'gw2', address: '10.0.0.2:5684' },
          { id: 'gw3', address: '10.0.0.3:5684' },
        ],
      }),
    );
    provisionFleet(join(dir, 'fleet.json'), join(dir, 'out'));
    // A loose umask must not loosen what is installed.
    execFileSync(
      'sh',
      [
        '-c',
        'umask 000 && exec sh "$@"',
        'sh',
        join(ROOT, 'deploy/install.sh'),
        '--bundle',
        join(dir, 'out/bundles/gw2'),
        '--no-package',
        '--destdir',
        destdir,
      ],
      { stdio: 'pipe' },
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const mode = (path: string): number => statSync(join(destdir, path)).mode & 0o777;

  it('installs the bundle with keys readable by the coraft group only, in the standard places', function () {
    for (const file of INSTALLED) assert.equal(mode(`etc/coraft/${file}`), 0o640, file);
    assert.equal(mode('etc/coraft'), 0o750);
    assert.equal(mode('var/lib/coraft'), 0o700);
    assert.equal(
      readFileSync(join(destdir, 'etc/coraft/keystore.json'), 'utf8'),
      readFileSync(join(dir, 'out/bundles/gw2/keystore.json'), 'utf8'),
    );
    assert.match(
      readFileSync(join(destdir, 'etc/systemd/system/coraft.service.d/10-gateway.conf'), 'utf8'),
      /gateway gw2[\s\S]*MemoryMax=128M/,
    );
    assert.match(readFileSync(join(destdir, 'usr/lib/sysusers.d/coraft.conf'), 'utf8'), /^u coraft /m);
    const coraft = spawnSync('id', ['-g', 'coraft'], { encoding: 'utf8' });
    if (process.getuid?.() !== 0 || coraft.status !== 0) return; // owners: see the stand-in test below
    const gid = Number(coraft.stdout.trim());
    for (const file of ['', ...INSTALLED]) {
      const stat = statSync(join(destdir, 'etc/coraft', file));
      assert.deepEqual([stat.uid, stat.gid], [0, gid], `etc/coraft/${file}`);
    }
  });

  it('asks for root:coraft on /etc/coraft and its files and coraft:coraft on the state folder', () => {
    // Stand-ins: `id coraft` succeeds (a host with the service user) and chown records its calls.
    const bin = join(dir, 'stand-ins');
    const calls = join(dir, 'chown.calls');
    mkdirSync(bin, { recursive: true });
    writeFileSync(
      join(bin, 'id'),
      `#!/bin/sh\ncase "$1" in coraft) exit 0 ;; -u) echo 0 ;; *) exec /usr/bin/id "$@" ;; esac\n`,
      { mode: 0o755 },
    );
    writeFileSync(join(bin, 'chown'), `#!/bin/sh\necho "$@" >> '${calls}'\n`, { mode: 0o755 });
    const staged = join(dir, 'staged');
    execFileSync(
      'sh',
      [join(ROOT, 'deploy/install.sh'), '--bundle', join(dir, 'out/bundles/gw2'), '--no-package', '--destdir', staged],
      { stdio: 'pipe', env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` } },
    );
    const recorded = readFileSync(calls, 'utf8').trim().split('\n');
    const expected = [
      `root:coraft ${staged}/etc/coraft`,
      ...INSTALLED.map((file) => `root:coraft ${staged}/etc/coraft/${file}`),
      `coraft:coraft ${staged}/var/lib/coraft`,
    ];
    assert.deepEqual(recorded, expected);
  });

  it("as a user of the files' group, the agent reads the installed layout, refuses a group-writable key", function () {
    // nobody:nogroup stands for coraft:coraft (no user is created here): the files become
    // root:nogroup 0640 and `coraft config check` runs as nobody, like the service would.
    // needs root and setpriv
    if (process.getuid?.() !== 0 || spawnSync('setpriv', ['--version']).status !== 0) this.skip();
    const copy = join(dir, 'as-nobody');
    execFileSync('cp', ['-a', join(destdir, 'etc/coraft'), copy]);
    chmodSync(dir, 0o755); // mkdtemp's 0700 would keep nobody out of the whole tree
    for (const file of ['', ...INSTALLED]) chownSync(join(copy, file), 0, NOGROUP);
    const check = (): ReturnType<typeof spawnSync> =>
      spawnSync(
        'setpriv',
        [
          `--reuid=${NOBODY}`,
          `--regid=${NOGROUP}`,
          '--clear-groups',
          process.execPath,
          CORAFT_BIN,
          'config',
          'check',
          join(copy, 'agent.json'),
        ],
        { encoding: 'utf8' },
      );
    const accepted = check();
    assert.equal(accepted.status, 0, `${String(accepted.stderr)}`);
    assert.match(String(accepted.stdout), /valid \(node gw2/);
    chmodSync(join(copy, 'node.secret'), 0o660);
    const refused = check();
    assert.notEqual(refused.status, 0);
    assert.ok(
      String(refused.stderr).includes(`psk.nodeSecretFile: secret file ${join(copy, 'node.secret')} has mode 0660`),
      String(refused.stderr),
    );
    assert.ok(String(refused.stderr).includes(`Run: chmod 640 ${join(copy, 'node.secret')}`), String(refused.stderr));
  });

  it('systemd-analyze verify accepts the installed unit without warnings', function () {
    if (!hasAnalyze) this.skip(); // systemd-analyze is not installed here (.ci/run installs it)
    const unit = readFileSync(join(destdir, 'etc/systemd/system/coraft.service'), 'utf8');
    const bin = join(destdir, 'opt/coraft/node_modules/.bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'coraft'), '#!/bin/sh\n');
    chmodSync(join(bin, 'coraft'), 0o755);
    const copy = join(dir, 'coraft.service');
    writeFileSync(copy, unit.replace('ExecStart=/opt/', `ExecStart=${destdir}/opt/`));
    const result = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stderr.trim(), '', 'no warnings');
  });

  it('bounds memory by one rule: MemoryHigh under MemoryMax, the V8 heap under MemoryHigh', () => {
    const unit = readFileSync(join(ROOT, 'systemd/coraft.service'), 'utf8');
    const [max, high, nodeOptions] = memoryLinesFor(`${UNIT_MEMORY_MAX_MIB}M`);
    for (const line of [max, high, nodeOptions])
      assert.ok(line !== undefined && unit.split('\n').includes(line), `the unit has ${String(line)}`);
    assert.ok(nodeOptions?.includes(UNIT_NODE_FLAGS.join(' ')));
    // The unit's whole environment is what agent/cli/agent-processes.ts gives the agents of the demo, the
    // benches and the tests (unitEnvironment: UNIT_NODE_FLAGS in NODE_OPTIONS, UNIT_MALLOC_ENV): their figures
    // are the shipped ones.
    const environment = unit.split('\n').filter((line) => line.startsWith('Environment'));
    const malloc = Object.entries(UNIT_MALLOC_ENV).map(([name, value]) => `Environment=${name}=${value}`);
    assert.deepEqual(environment.sort(), [nodeOptions, ...malloc].sort());
    assert.equal(UNIT_MALLOC_ENV['MALLOC_MMAP_THRESHOLD_'], '131072');
    // The gateway's drop-in lowers MemoryMax to 128M: MemoryHigh and the heap bound follow it.
    const dropIn = readFileSync(join(destdir, 'etc/systemd/system/coraft.service.d/10-gateway.conf'), 'utf8');
    for (const line of memoryLinesFor('128M')) assert.ok(dropIn.split('\n').includes(line), `the drop-in has ${line}`);
    assert.match(dropIn, /MemoryHigh=106M\n/);
  });

  it("starts the agent's command under the unit's NODE_OPTIONS and under a drop-in's", () => {
    // Node refuses some V8 flags in NODE_OPTIONS and exits 9 before any of the agent runs (the
    // unit once passed --heap-growing-percent there); the agent sets those itself (runtime/v8-flags.ts).
    const unit = readFileSync(join(ROOT, 'systemd/coraft.service'), 'utf8').split('\n');
    const dropIn = readFileSync(join(destdir, 'etc/systemd/system/coraft.service.d/10-gateway.conf'), 'utf8').split(
      '\n',
    );
    const optionsOf = (lines: readonly string[]): string[] =>
      lines.flatMap((line) => /^Environment="NODE_OPTIONS=(.*)"$/.exec(line)?.[1] ?? []);
    const all = [...optionsOf(unit), ...optionsOf(dropIn), ...optionsOf(memoryLinesFor('1G'))];
    assert.equal(all.length, 3);
    for (const options of all) {
      const result = spawnSync(process.execPath, [CORAFT_BIN, 'agent', '--help'], {
        env: { ...process.env, NODE_OPTIONS: options },
        encoding: 'utf8',
      });
      assert.equal(result.status, 0, `NODE_OPTIONS=${options}: ${result.stderr}`);
      assert.match(result.stdout, /--config/);
    }
  });

  it('gives the agent a cache folder of its own, where its code cache goes', () => {
    const unit = readFileSync(join(ROOT, 'systemd/coraft.service'), 'utf8').split('\n');
    assert.ok(unit.includes('CacheDirectory=coraft') && unit.includes('CacheDirectoryMode=0700'));
    // systemd passes the folder as CACHE_DIRECTORY; the bundle's loader (agent/cli/code-cache.ts) writes there.
    assert.equal(cacheFolder({ CACHE_DIRECTORY: '/var/cache/coraft' }, '/opt/x/coraft.cjs'), '/var/cache/coraft');
  });

  it('has a systemd-analyze security exposure under 2.0', function () {
    if (!hasAnalyze) this.skip(); // systemd-analyze is not installed here
    const result = spawnSync(
      'systemd-analyze',
      ['security', '--offline=yes', '--no-pager', join(ROOT, 'systemd/coraft.service')],
      { encoding: 'utf8' },
    );
    const match = /Overall exposure level for coraft\.service: ([0-9.]+)/.exec(result.stdout);
    assert.ok(match !== null, result.stdout + result.stderr);
    const score = Number(match[1]);
    process.stdout.write(`      systemd-analyze security exposure: ${score}\n`);
    assert.ok(score < 2.0, `exposure ${score}`);
  });
});
