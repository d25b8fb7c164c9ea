/**
 * `npm run chaos -- [--workload endpoint|libcoap] [--seconds S | --minutes M] [--seed S]
 * [--nodes N] [--clients C] [--keys K] [--network auto|off] [--repeat R] [--unsafe-ack]
 * [--keep] [--json]`: chaos rounds against real agents (see harness.ts). Prints a summary per
 * round; exits 1 on any violation, printing the seed to replay it with.
 *
 * `--repeat R` runs R rounds with seeds S, S+1, ... and stops at the first failing one, so
 * "R consecutive clean rounds" is one command. The libcoap workload (issue 13) defaults to 6
 * clients and 8 keys; the endpoint workload to 4 clients and 5 keys. E.g.
 *   npm run chaos -- --workload libcoap --seconds 45 --repeat 20
 */
import { parseArgs } from 'node:util';
import { CHAOS_WORKLOADS, runChaos } from './harness.js';
import type { ChaosSummary, ChaosWorkload } from './harness.js';
import { formatSummary } from './summary.js';
import { describeError } from '../../contracts/errors.js';

function number(text: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < min || value > max)
    throw new Error(`--${name}: expected a number from ${min} to ${max}, got ${JSON.stringify(text)}`);
  return value;
}

function workloadOf(text: string | undefined): ChaosWorkload {
  const workload = CHAOS_WORKLOADS.find((w) => w === (text ?? 'endpoint'));
  if (workload === undefined)
    throw new Error(`--workload: one of ${CHAOS_WORKLOADS.join(', ')}, got ${JSON.stringify(text)}`);
  return workload;
}

const OPTIONS = {
  workload: { type: 'string' },
  seconds: { type: 'string' },
  minutes: { type: 'string' },
  seed: { type: 'string' },
  nodes: { type: 'string' },
  clients: { type: 'string' },
  keys: { type: 'string' },
  network: { type: 'string' },
  repeat: { type: 'string' },
  'unsafe-ack': { type: 'boolean' },
  keep: { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

async function main(): Promise<number> {
  // Exit (running exit handlers, which remove network namespaces) on Ctrl-C.
  process.once('SIGINT', () => process.exit(130));
  const { values } = parseArgs({ options: OPTIONS });
  const network = values.network ?? 'auto';
  if (network !== 'auto' && network !== 'off') throw new Error('--network: auto or off');
  if (values.seconds !== undefined && values.minutes !== undefined)
    throw new Error('--seconds and --minutes: give one');
  const workload = workloadOf(values.workload);
  const libcoap = workload === 'libcoap';
  const durationMs =
    values.seconds !== undefined
      ? Math.round(number(values.seconds, 'seconds', 60, 5, 24 * 3600) * 1000)
      : Math.round(number(values.minutes, 'minutes', 1, 0.1, 24 * 60) * 60_000);
  const firstSeed = number(values.seed, 'seed', Math.floor(Math.random() * 2 ** 31), 0, 2 ** 31);
  const rounds = number(values.repeat, 'repeat', 1, 1, 10_000);
  let passed = 0;
  for (let round = 0; round < rounds; round += 1) {
    const seed = firstSeed + round;
    if (rounds > 1) process.stdout.write(`round ${round + 1} of ${rounds}: seed ${seed}\n`);
    const summary: ChaosSummary = await runChaos({
      workload,
      durationMs,
      seed,
      nodes: number(values.nodes, 'nodes', 3, 1, 9),
      clients: number(values.clients, 'clients', libcoap ? 6 : 4, 1, libcoap ? 64 : 256),
      keyCount: number(values.keys, 'keys', libcoap ? 8 : 5, 1, 1000),
      network,
      unsafeAckBeforeCommit: values['unsafe-ack'] === true,
      keep: values.keep === true,
      log: (line) => process.stdout.write(`${line}\n`),
    });
    for (const line of formatSummary(summary)) process.stdout.write(`${line}\n`);
    if (values.json === true)
      process.stdout.write(`${JSON.stringify({ ...summary, faults: summary.faults.length })}\n`);
    if (!summary.ok) {
      if (rounds > 1)
        process.stdout.write(
          `stopped at the first failure: round ${round + 1}, seed ${seed}, after ${passed} consecutive clean rounds\n`,
        );
      return 1;
    }
    passed += 1;
  }
  if (rounds > 1)
    process.stdout.write(
      `${passed} consecutive clean rounds of ${rounds} (seeds ${firstSeed} to ${firstSeed + rounds - 1})\n`,
    );
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`chaos failed to run: ${describeError(error, { stack: true })}\n`);
    process.exitCode = 2;
  },
);
