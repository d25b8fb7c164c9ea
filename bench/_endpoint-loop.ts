/**
 * The closed loop of the endpoint benches (the suite's load points in bench/_load.ts and
 * bench/endpoint-writes.ts): each client PUTs a fixed value to its own 64 keys as fast as
 * answers come; after a warm-up, every answer in the measured window is timed.
 */
import { performance } from 'node:perf_hooks';
import type { EndpointClient } from '../agent/cli/endpoint-client.js';
import { LatencyRecorder } from './_figures.js';
import { KEYS_PER_CLIENT, LATENCY_SAMPLES_MAX } from './_closed-loop.js';

/** How one closed-loop measurement runs. */
export interface EndpointLoopShape {
  /** Keys are `${keyPrefix}-${client}-${0..63}`. */
  readonly keyPrefix: string;
  readonly payload: Uint8Array;
  readonly warmupMs: number;
  readonly durationMs: number;
}

/** What one measurement saw over its window. */
export interface EndpointLoopResult {
  readonly latencies: LatencyRecorder;
  /** Answers other than 2.xx, and requests with no answer in time. */
  readonly errors: number;
  readonly elapsedMs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `clients` in a closed loop for `shape.warmupMs` (not counted) then `shape.durationMs`;
 * `window.start` and `window.stop` run at the edges of the measured window (to read /proc).
 */
export async function endpointClosedLoop(
  clients: readonly EndpointClient[],
  shape: EndpointLoopShape,
  window: { readonly start?: () => void; readonly stop?: () => void } = {},
): Promise<EndpointLoopResult> {
  const latencies = new LatencyRecorder(LATENCY_SAMPLES_MAX);
  let errors = 0;
  let measuring = false;
  let running = true;
  const loop = async (client: EndpointClient, c: number): Promise<void> => {
    for (let j = 0; running; j += 1) {
      const started = performance.now();
      const path = ['kv', `${shape.keyPrefix}-${c}-${j % KEYS_PER_CLIENT}`];
      const ok = await client.request({ method: 'PUT', path, payload: shape.payload }).then(
        (response) => response.code >= 0x40 && response.code < 0x60,
        () => false, // no answer in time (a loaded machine, an election): counted as an error
      );
      if (!measuring) continue;
      if (ok) latencies.record(performance.now() - started);
      else errors += 1;
    }
  };
  const loops = clients.map((client, c) => loop(client, c));
  await sleep(shape.warmupMs);
  window.start?.();
  measuring = true;
  const started = performance.now();
  await sleep(shape.durationMs);
  measuring = false;
  const elapsedMs = performance.now() - started;
  window.stop?.();
  running = false;
  await Promise.all(loops);
  return { latencies, errors, elapsedMs };
}
