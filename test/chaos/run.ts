/**
 * `npm run chaos -- --minutes M --seed S --nodes N [--clients C] [--keys K] [--network auto|off]
 * [--unsafe-ack] [--keep]`: one chaos round against real agents (see harness.ts). Prints a
 * summary; exits 1 on any violation, printing the seed to replay it with.
 */
import { parseArgs } from 'node:util';
import { runChaos } from './harness.js';
import { formatSummary } from './summary.js';

function number(text: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < min || value > max) throw new Error(`--${name}: expected a number from ${min} to ${max}, got ${JSON.stringify(text)}`);
  return value;
}

async function main(): Promise<number> {
  // Exit (running exit handlers, which remove network namespaces) on Ctrl-C.
  process.once('SIGINT', () => process.exit(130));
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string' },
      seed: { type: 'string' },
      nodes: { type: 'string' },
      clients: { type: 'string' },
      keys: { type: 'string' },
      network: { type: 'string' },
      'unsafe-ack': { type: 'boolean' },
      keep: { type: 'boolean' },
      json: { type: 'boolean' },
    },
  });
  const network = values.network ?? 'auto';
  if (network !== 'auto' && network !== 'off') throw new Error('--network: auto or off');
  const summary = await runChaos({
    durationMs: Math.round(number(values.minutes, 'minutes', 1, 0.1, 24 * 60) * 60_000),
    seed: number(values.seed, 'seed', Math.floor(Math.random() * 2 ** 31), 0, 2 ** 31),
    nodes: number(values.nodes, 'nodes', 3, 1, 9),
    clients: number(values.clients, 'clients', 4, 1, 256),
    keyCount: number(values.keys, 'keys', 5, 1, 1000),
    network,
    unsafeAckBeforeCommit: values['unsafe-ack'] === true,
    keep: values.keep === true,
    log: (line) => process.stdout.write(`${line}\n`),
  });
  for (const line of formatSummary(summary)) process.stdout.write(`${line}\n`);
  if (values.json === true) process.stdout.write(`${JSON.stringify({ ...summary, faults: summary.faults.length })}\n`);
  return summary.ok ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`chaos failed to run: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 2;
  },
);
