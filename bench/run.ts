/**
 * The one entry point of the benchmarks: `npm run bench -- NAME [--json] [options]` imports
 * bench/NAME.ts and calls its `run(args)`, which prints figures as it goes and returns them.
 * With --json the last line printed is one JSON object of those figures. `npm run bench -- NAME
 * --help` prints the benchmark's own comment (its options) and runs nothing: a benchmark reads
 * the options it knows and ignores the rest, so `--help` once ran the whole vs-etcd grid.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
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

/** The text of the comment that opens a benchmark's source (a doc comment or `//` lines): its usage and options. */
export function benchmarkHelp(source: string): string {
  const block = /^\/\*\*([\s\S]*?)\*\//.exec(source)?.[1];
  const lines =
    block?.split('\n').map((line) => line.replace(/^\s*\* ?/, '')) ??
    /^(?:\/\/.*\n)+/
      .exec(source)?.[0]
      .split('\n')
      .map((line) => line.replace(/^\/\/ ?/, ''));
  return lines?.join('\n').trim() ?? '(no description at the top of this benchmark)';
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || !available.includes(name)) {
    process.stderr.write(`usage: npm run bench -- NAME [--json] [options]\nbenchmarks: ${available.join(', ')}\n`);
    return name === undefined || name === '--help' ? 0 : 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${benchmarkHelp(readFileSync(`${here}/${name}.ts`, 'utf8'))}\n`);
    return 0;
  }
  const json = rest.includes('--json');
  const module: unknown = await import(`./${name}.ts`);
  if (!isBenchmark(module)) throw new Error(`bench/${name}.ts does not export run(args)`);
  const figures = await module.run(rest.filter((a) => a !== '--json'));
  if (json) process.stdout.write(`${JSON.stringify({ benchmark: name, ...figures })}\n`);
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href)
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
