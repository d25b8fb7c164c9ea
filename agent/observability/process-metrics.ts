/**
 * The process metrics every Node.js Prometheus exporter serves, under prom-client's names, read
 * when /metrics is scraped and never between scrapes. prom-client's own `collectDefaultMetrics`
 * also keeps an event-loop delay histogram, a libuv timer every 10 ms: 0.4 % of a core on an
 * idle gateway (as much as the agent itself at rest, issue 17), and with a coarser timer its
 * figures carry the timer's period. Here the event-loop lag is how long a setImmediate takes at
 * the scrape, as prom-client's `nodejs_eventloop_lag_seconds` measures it.
 */
import { readdirSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';
import type * as PromClient from 'prom-client';
import type { Registry } from 'prom-client';

/** The process's start, in seconds since the epoch. */
const START_TIME_SECONDS = Math.round(Date.now() / 1000 - process.uptime());

/** The number of open file descriptors, or null where /proc/self/fd cannot be read. */
function openFds(): number | null {
  try {
    return readdirSync('/proc/self/fd').length - 1; // less the one readdir itself opened
  } catch {
    return null;
  }
}

/** How long a setImmediate callback waits from now, seconds. */
function eventLoopLagSeconds(): Promise<number> {
  const start = process.hrtime.bigint();
  return new Promise((resolve) => setImmediate(() => resolve(Number(process.hrtime.bigint() - start) / 1e9)));
}

/** Registers the process metrics on `registry`. */
export function registerProcessMetrics(promClient: typeof PromClient, registry: Registry): void {
  const registers = [registry];
  const gauge = (name: string, help: string, read: () => number | null | Promise<number | null>): void => {
    new promClient.Gauge({
      name,
      help,
      registers,
      async collect() {
        const value = await read();
        if (value !== null) this.set(value);
      },
    });
  };
  const cpuCounter = (name: string, help: string, read: (usage: NodeJS.CpuUsage) => number): void => {
    let last = 0; // the first scrape counts the process's CPU time since it started
    new promClient.Counter({
      name,
      help,
      registers,
      collect() {
        const now = read(process.cpuUsage());
        this.inc((now - last) / 1e6);
        last = now;
      },
    });
  };
  cpuCounter('process_cpu_user_seconds_total', 'Total user CPU time spent in seconds.', (u) => u.user);
  cpuCounter('process_cpu_system_seconds_total', 'Total system CPU time spent in seconds.', (u) => u.system);
  cpuCounter('process_cpu_seconds_total', 'Total user and system CPU time spent in seconds.', (u) => u.user + u.system);
  gauge(
    'process_start_time_seconds',
    'Start time of the process since unix epoch in seconds.',
    () => START_TIME_SECONDS,
  );
  gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', () => process.memoryUsage.rss());
  gauge('process_open_fds', 'Number of open file descriptors.', openFds);
  gauge(
    'nodejs_heap_size_total_bytes',
    'Process heap size from Node.js in bytes.',
    () => getHeapStatistics().total_heap_size,
  );
  gauge(
    'nodejs_heap_size_used_bytes',
    'Process heap size used from Node.js in bytes.',
    () => getHeapStatistics().used_heap_size,
  );
  gauge('nodejs_external_memory_bytes', 'Node.js external memory size in bytes.', () => process.memoryUsage().external);
  gauge('nodejs_eventloop_lag_seconds', 'Lag of event loop in seconds.', eventLoopLagSeconds);
}
