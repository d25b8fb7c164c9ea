/**
 * The old generation's growth chosen from the size of the entries the agent applies (issue 16).
 * The agent starts with HEAP_GROWING_PERCENT (v8-flags.ts), chosen at 4 KiB values. With 64 KiB
 * values a member runs a mark-compact every 100-200 ms (64 clients, --trace-gc-verbose on a
 * follower: V8's heap at 12-14 MiB against a limit of 24 MiB, with 80-110 MiB of
 * ArrayBuffers: the log's entries and the datagrams and records that carry them), started on the
 * old generation's limit ("task", v8-flags.ts). A larger growth spaces them out: 100 % set here,
 * one build with and without it (`npm run bench -- ab-coraft --a=<build of the previous head>
 * --clients=64 --value-bytes=65536 --slices=8`): writes/s +10 %, +7 %, CPU per write -10 %, -10 %,
 * p99 -12 %, -6 %; at 1 x 64 KiB +23 %, -11 %, p99 -13 %; peak RssAnon +0..+12 MiB (leader 143-148
 * MiB). 200 % gave another +5..+12 % and -8..-14 % CPU, but peaks of 149-150 MiB, too near the 256
 * MB unit's MemoryHigh (160M) for a member that runs beside other services. With small values the
 * trade is the other way (v8-flags.ts: at 64 x 4 KiB, p99 worse and peak memory past issue 17's 90
 * MiB). So the growth follows the entries: after every WINDOW_ENTRIES applied entries, their mean
 * command size picks it, LARGE_PERCENT from LARGE_ENTRY_BYTES up and back to the base below
 * SMALL_ENTRY_BYTES (between the two it stays as it is, so that a mix near one bound does not flip
 * it every window).
 *
 * V8 reads the flag at the end of each mark-compact, when it sets the next limit, so a change acts
 * from the next one; the limit stays below halfway between what survived and the old generation's
 * maximum (--max-old-space-size, memory-sizing.ts), whatever the percent. A store written full
 * with 64 KiB values (64 MiB, `npm run bench -- snapshot-install --store-mib=64 --runs=2`) peaked
 * at 114-121 MiB per member with it and 111-121 without; the follower restoring it at 123-126
 * against 124-125. The growth changes only once V8 flags may change at run time (v8-flags.ts
 * runtimeFlagsMayChange: once the code caches are written); until then the windows pass without a
 * decision. An operator's --heap-growing-percent on Node's command line turns it off (keepers.ts).
 */
import type { Metrics } from '../../contracts/metrics.js';
import { HEAP_GROWING_PERCENT, runtimeFlagsMayChange } from './v8-flags.js';

/** The growth while large entries apply, percent of what the last mark-compact left. */
export const LARGE_PERCENT = 100;
/** Mean command bytes over a window from which the growth is LARGE_PERCENT. */
export const LARGE_ENTRY_BYTES = 16 * 1024;
/** Mean command bytes over a window below which it is the base again. */
export const SMALL_ENTRY_BYTES = 8 * 1024;
/** Applied entries per decision. */
export const WINDOW_ENTRIES = 64;

/** The V8 flag this sets. */
export const HEAP_GROWING_FLAG = '--heap-growing-percent';

export class HeapGrowth {
  private entries = 0;
  private bytes = 0;
  private large = false;

  constructor(
    private readonly deps: {
      /** Sets V8 flags (v8.setFlagsFromString in the agent). */
      readonly setFlags: (flags: string) => void;
      readonly metrics: Metrics;
      /** Whether V8 flags may change now; runtimeFlagsMayChange when absent. */
      readonly mayChange?: () => boolean;
    },
  ) {}

  /** The growth set now, percent. */
  percent(): number {
    return this.large ? LARGE_PERCENT : HEAP_GROWING_PERCENT;
  }

  /** Notes an applied entry of `commandBytes`; at the end of a window, sets the growth if it changes. */
  noteEntry(commandBytes: number): void {
    this.entries += 1;
    this.bytes += commandBytes;
    if (this.entries < WINDOW_ENTRIES) return;
    const mean = this.bytes / this.entries;
    this.entries = 0;
    this.bytes = 0;
    if (!(this.deps.mayChange ?? runtimeFlagsMayChange)()) return;
    const large = mean >= (this.large ? SMALL_ENTRY_BYTES : LARGE_ENTRY_BYTES);
    if (large === this.large) return;
    this.large = large;
    this.deps.setFlags(`${HEAP_GROWING_FLAG}=${this.percent()}`);
    this.deps.metrics.setGauge('agent_heap_growing_percent', this.percent());
  }
}
