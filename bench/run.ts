/**
 * The one entry point of the benchmarks: `npm run bench -- NAME [--json] [options]` imports
 * bench/NAME.ts and calls its `run(args)`, which prints figures as it goes and returns them.
 * With --json the last line printed is one JSON object of those figures.
 */
import { readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeError } from '../contracts/errors.js';

interface Benchmark {
  run(args: readonly string[]): Promise<Record<string, unknown>>;
}

function isBenchmark(value: unknown): value is Benchmark {
  return typeof value === 'object' && value !== null && typeof Reflect.get(value, 'run') === 'function';
}

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_'))
  .map((f) => f.slice(0, -3))
  .sort();

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || !available.includes(name)) {
    process.stderr.write(`usage: npm run bench -- NAME [--json] [options]\nbenchmarks: ${available.join(', ')}\n`);
    return name === undefined || name === '--help' ? 0 : 2;
  }
  const json = rest.includes('--json');
  const module: unknown = await import(`./${name}.ts`);
  if (!isBenchmark(module)) throw new Error(`bench/${name}.ts does not export run(args)`);
  const figures = await module.run(rest.filter((a) => a !== '--json'));
  if (json) process.stdout.write(`${JSON.stringify({ benchmark: name, ...figures })}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    // A benchmark that judged its figures (bench/soak.ts) may have set a failing exit code already.
    if (process.exitCode === undefined) process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`bench failed: ${describeError(error, { stack: true })}\n`);
    process.exitCode = 1;
  },
);
