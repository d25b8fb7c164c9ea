/**
 * Runs one of the existing benchmark scripts for the suite, in a child process
 * (`node --import tsx bench/run.ts NAME --json ARGS`), so that a failing or leaking benchmark
 * cannot take the suite with it. Its lines are echoed with a prefix; its figures are the last
 * JSON line it prints. A benchmark that overruns its time limit is stopped (SIGTERM, then
 * SIGKILL after a grace period) and reported so.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The outcome of one benchmark script. */
export type MicroResult =
  | { readonly name: string; readonly ok: true; readonly seconds: number; readonly figures: Record<string, unknown> }
  | { readonly name: string; readonly ok: false; readonly seconds: number; readonly error: string };

const RUNNER = join(dirname(fileURLToPath(import.meta.url)), 'run.ts');
/** How long an overrunning benchmark has to stop after SIGTERM before it is killed, ms. */
const KILL_GRACE_MS = 30_000;
/** Most output kept from one benchmark, bytes. */
const OUTPUT_BYTES_MAX = 4 * 1024 * 1024;

function lastJson(output: string): Record<string, unknown> | null {
  const lines = output.trim().split('\n').reverse();
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    try {
      const value: unknown = JSON.parse(line);
      if (typeof value === 'object' && value !== null && !Array.isArray(value))
        return Object.fromEntries(Object.entries(value));
    } catch {
      // Not the figures line.
    }
  }
  return null;
}

/** Runs `bench/NAME.ts` with `args`; kills it after `timeoutMs`. */
export function runMicro(
  name: string,
  args: readonly string[],
  timeoutMs: number,
  echo: (line: string) => void,
): Promise<MicroResult> {
  const started = Date.now();
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', RUNNER, name, '--json', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let errors = '';
    let partial = '';
    child.stdout.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      if (output.length < OUTPUT_BYTES_MAX) output += text;
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (!line.startsWith('{"benchmark"')) echo(`  [${name}] ${line}`);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (errors.length < 64 * 1024) errors += chunk.toString('utf8');
    });
    // Overrun: SIGTERM first, so a benchmark stops the clusters it runs and removes their folders; SIGKILL after a
    // grace period.
    let overran = false;
    let killer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      overran = true;
      child.kill('SIGTERM');
      killer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
    }, timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(killer);
      const seconds = Math.round((Date.now() - started) / 100) / 10;
      const figures = lastJson(output);
      if (code === 0 && figures !== null) done({ name, ok: true, seconds, figures });
      else
        done({
          name,
          ok: false,
          seconds,
          error: overran
            ? `stopped after ${timeoutMs} ms (${signal ?? `exit ${String(code)}`})`
            : `exit ${String(code)}${signal === null ? '' : ` (${signal})`}:` +
              ` ${errors.trim().split('\n').slice(-3).join(' | ')}`,
        });
    });
  });
}
