// `npm run bench -- NAME --help` prints the benchmark's opening comment and runs nothing (bench/run.ts).
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { benchmarkHelp } from '../../bench/run.js';

const BENCH_DIR = fileURLToPath(new URL('../../bench/', import.meta.url));
const RUN = fileURLToPath(new URL('../../bench/run.ts', import.meta.url));

describe('bench/run.ts --help', () => {
  it('takes the opening comment without its stars', () => {
    const source = '/**\n * usage: npm run bench -- x [--n=1]\n *\n * What it measures.\n */\nexport {};\n';
    assert.equal(benchmarkHelp(source), 'usage: npm run bench -- x [--n=1]\n\nWhat it measures.');
    assert.equal(benchmarkHelp('// usage: y\n// more\nimport {};\n'), 'usage: y\nmore');
    assert.match(benchmarkHelp('export {};\n'), /no description/);
  });

  it('every benchmark opens with a comment that names itself', () => {
    const names = readdirSync(BENCH_DIR).filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_'));
    assert.ok(names.length > 10, 'the benchmarks are found');
    for (const file of names) {
      const help = benchmarkHelp(readFileSync(`${BENCH_DIR}${file}`, 'utf8'));
      assert.doesNotMatch(help, /no description/, `${file} has an opening comment`);
    }
  });

  it('prints vs-etcd options and exits without starting a cluster', function () {
    this.timeout(30_000);
    const result = spawnSync(process.execPath, ['--import', 'tsx', RUN, 'vs-etcd', '--help'], {
      encoding: 'utf8',
      timeout: 25_000,
      env: { ...process.env, ETCD_BIN: '/nonexistent' },
    });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /--clients=/);
    assert.doesNotMatch(result.stdout + result.stderr, /vs-etcd: coraft 3 agents in|leaders: coraft/);
  });
});
