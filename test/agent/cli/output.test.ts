// Proves that every command of the built CLI ends quietly when the reader of its output goes
// away: its stdout closed by the reader before or while the command writes (a command that
// prints a lot: `sim --trace -`; one large write: `config schema`), and shell pipelines into
// `head -1` (the trace on stdout, and through a descriptor of its own, /dev/stdout), each
// asserted to exit 0 with nothing on stderr, where Node.js would otherwise print an unhandled EPIPE stack trace. A
// trace file that cannot be written ends the command with one line and status 1. Runs the
// built CLI (`npm run build` first).
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CORAFT_BIN, findFreePorts } from '../../../agent/cli/agent-processes.js';
import {
  EXIT_OUTPUT_CLOSED,
  EXIT_OUTPUT_FAILED,
  endOnOutputError,
  isClosedOutputError,
} from '../../../agent/cli/output.js';
import { coraft, runProcess, waitFor } from '../integration/helpers.js';
import type { Run } from '../integration/helpers.js';

/**
 * Runs `coraft ARGS` with stdout a pipe whose read end this process closes after reading
 * `closeAfterBytes` bytes (0: at once, before the command writes anything).
 */
function runWithClosedStdout(
  args: readonly string[],
  closeAfterBytes: number,
): Promise<Run & { readonly read: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CORAFT_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let read = 0;
    let stderr = '';
    const close = (): void => {
      child.stdout.destroy();
    };
    if (closeAfterBytes === 0) close();
    else {
      child.stdout.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read >= closeAfterBytes) close();
      });
    }
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout: '', stderr, read });
    });
  });
}

describe('CLI output closed by its reader', function () {
  this.timeout(90_000);

  const cases: readonly (readonly [string, readonly string[], number])[] = [
    [
      'sim with its trace on standard output, closed after the first 64 KiB',
      ['sim', '--seed', '7', '--duration-ms', '60000', '--faults', 'loss', '--trace', '-'],
      65_536,
    ],
    ['config schema, closed before it writes', ['config', 'schema'], 0],
    ['the usage, closed before it writes', ['--help'], 0],
  ];
  for (const [what, args, closeAfterBytes] of cases) {
    it(`ends quietly: ${what}`, async () => {
      const run = await runWithClosedStdout(args, closeAfterBytes);
      assert.equal(run.stderr, '', 'nothing on stderr (no EPIPE stack trace)');
      assert.equal(run.code, EXIT_OUTPUT_CLOSED);
      assert.ok(run.read >= closeAfterBytes);
    });
  }

  // Node.js gives a child a socket pair for 'pipe'; a shell gives it a real pipe.
  for (const [what, trace] of [
    ['standard output', '-'],
    ['/dev/stdout (a descriptor of its own)', '/dev/stdout'],
  ]) {
    it(`ends quietly in a shell pipeline into head -1, the trace on ${what}`, async () => {
      const command =
        `"${process.execPath}" "${CORAFT_BIN}" sim --seed 3 --duration-ms 60000 --trace ${trace} | ` +
        `head -1; echo "status $?"`;
      const run = await runProcess('bash', ['-c', `set -o pipefail; ${command}`]);
      assert.equal(run.stderr, '', 'nothing on stderr (no EPIPE stack trace)');
      assert.match(run.stdout, /^SEED=3\nstatus 0\n$/u, 'one line through head, and the pipeline succeeds');
    });
  }

  it('ends with one line and status 1 when the trace file cannot be written', async () => {
    const run = await coraft('sim', '--seed', '1', '--duration-ms', '1000', '--trace', '/nonexistent-dir/trace.jsonl');
    assert.equal(run.code, EXIT_OUTPUT_FAILED);
    assert.match(run.stderr, /^coraft: cannot write \/nonexistent-dir\/trace\.jsonl: ENOENT[^\n]*\n$/u);
  });

  it('keeps an agent serving when the reader of its logs goes away', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'coraft-output-'));
    const basePort = await findFreePorts(2);
    try {
      assert.equal(
        (await coraft('cluster', 'init', '--nodes', '1', '--dir', dir, '--base-port', String(basePort))).code,
        0,
      );
      const config = join(dir, 'n1', 'agent.json');
      // Console logs at info go through process.stdout/stderr writes, which meet the closed pipes.
      const parsed = JSON.parse(readFileSync(config, 'utf8')) as Record<string, unknown>;
      writeFileSync(config, JSON.stringify({ ...parsed, logging: { level: 'debug', format: 'console' } }));
      const agent = spawn(process.execPath, [CORAFT_BIN, 'agent', '--config', config], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let exited: number | null | undefined;
      agent.once('exit', (code) => (exited = code));
      agent.stdout.destroy();
      agent.stderr.destroy();
      try {
        const endpoint = `127.0.0.1:${basePort + 1}`;
        await waitFor('the agent to lead', async () => {
          const status = await coraft('status', '--endpoint', endpoint, '--json');
          return status.code === 0 && status.stdout.includes('"leader"') ? status : null;
        });
        assert.equal((await coraft('kv', 'put', 'k', 'v', '--endpoint', endpoint)).code, 0);
        assert.equal(exited, undefined, 'the agent is still running');
      } finally {
        agent.kill('SIGKILL');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('tells a closed reader from other write errors', () => {
    const epipe = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
    assert.equal(isClosedOutputError(epipe), true);
    assert.equal(isClosedOutputError(Object.assign(new Error('no space'), { code: 'ENOSPC' })), false);
    assert.equal(isClosedOutputError('EPIPE'), false);
    const codes: number[] = [];
    endOnOutputError(epipe, 'standard output', (code) => codes.push(code));
    endOnOutputError(Object.assign(new Error('I/O error'), { code: 'EIO' }), 'standard error', (code) =>
      codes.push(code),
    );
    assert.deepEqual(codes, [EXIT_OUTPUT_CLOSED, EXIT_OUTPUT_FAILED]);
  });
});
