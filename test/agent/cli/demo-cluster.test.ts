// Proves that `coraft demo` (what `npm start` runs) keeps writing through a failover: run
// headless for 15 s, it kills the leader after 8 s, and its status lines, printed with 1 s
// pauses in between, must show the acknowledged writes growing over every two lines (2 s or
// more) from the first write to the end, in particular across the kill. Runs the built CLI (`npm run build` first).
import { strict as assert } from 'node:assert';
import { createSocket } from 'node:dgram';
import { findFreePorts } from '../../../agent/cli/agent-processes.js';
import { coraft } from '../integration/helpers.js';

/** One status line: `t=  9s  writes ok 54, linearizable reads ok 54`. */
interface StatusLine {
  readonly t: number;
  readonly writes: number;
}

function statusLines(stdout: string): StatusLine[] {
  const lines: StatusLine[] = [];
  for (const match of stdout.matchAll(/^t=\s*(\d+)s\s+writes ok (\d+),/gmu))
    lines.push({ t: Number(match[1]), writes: Number(match[2]) });
  return lines;
}

describe('coraft demo', function () {
  this.timeout(120_000);

  it('keeps writing through the live nodes after it kills the leader', async () => {
    const basePort = await findFreePorts(6);
    const run = await coraft('demo', '--duration-s', '15', '--base-port', String(basePort));
    assert.equal(run.code, 0, run.stderr);
    const kill = /\*\*\* t=(\d+)s: killed the leader (n\d)/u.exec(run.stdout);
    assert.ok(kill !== null, `the demo killed no leader:\n${run.stdout}`);
    const killedAt = Number(kill[1]);
    const lines = statusLines(run.stdout);
    const first = lines.find((l) => l.writes > 0);
    assert.ok(first !== undefined && first.t < killedAt, `no write before the kill:\n${run.stdout}`);
    const last = lines.at(-1);
    assert.ok(
      last !== undefined && last.t >= killedAt + 4,
      `the demo ran on for less than 4 s after the kill:\n${run.stdout}`,
    );
    // The demo sleeps 1 s after each status line, so a line and the one two after it are at
    // least 2 s apart: some write must have been acknowledged in between.
    const writing = lines.slice(lines.indexOf(first));
    for (let i = 0; i + 2 < writing.length; i += 1) {
      const [a, b] = [writing[i], writing[i + 2]];
      assert.ok(
        a !== undefined && b !== undefined && b.writes > a.writes,
        `no write acknowledged from t=${a?.t}s to t=${b?.t}s (leader killed at t=${killedAt}s):\n${run.stdout}`,
      );
    }
  });

  it('says when an agent exits on its own, with its last output (here: its port is taken)', async () => {
    const basePort = await findFreePorts(6);
    const squatter = createSocket('udp4');
    await new Promise<void>((bound) => squatter.bind(basePort + 5, '127.0.0.1', bound));
    try {
      const run = await coraft('demo', '--duration-s', '3', '--base-port', String(basePort));
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /\*\*\* n\d exited on its own \(exit code \d+\); its last output:\n.*EADDRINUSE/su);
    } finally {
      await new Promise<void>((closed) => squatter.close(closed));
    }
  });
});
