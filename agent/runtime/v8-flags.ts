/**
 * V8 flags the agent sets on itself as it starts (cli/agent-command.ts), and why: the agent's own
 * tuning of V8, apart from the heap sizes the unit gives (fleet/memory-sizing.ts). Kept out of
 * agent/fleet/, which an agent never loads (test/agent/cli/agent-imports.test.ts).
 */
/**
 * How far V8 lets the old generation grow past what the last full collection left, percent.
 * With an old-space bound below 256 MiB V8 runs as on a low-memory device: it grows the old
 * generation by at most 30 % of what survived (about 15-20 MiB in a loaded agent, mostly code
 * and the store's objects), and counts toward that growth the ArrayBuffer bytes allocated since
 * (the 4 KiB values, which live until their key is overwritten and so die old). A loaded agent
 * then ran a mark-compact every 900-1,000 writes at 64 clients x 4 KiB on every member, whose
 * pauses (10-40 ms, over 100 ms on a loaded machine) were the main part of the slowest writes'
 * waits. At 50 % (the agents' --trace-gc-nvp, one 8 s run each, loaded machine): 1.05/0.88/0.88
 * mark-compacts per 1k writes against 1.36/1.14/1.14 at 4 KiB, the same at 256 B (0.33/0.20/0.20
 * against 0.36/0.21/0.21, where few bytes die old); the largest heap before a collection rose
 * 0-5 MiB. ab-coraft pairs against main (10 slices, each size run in both directions, with the
 * request id table of the same change, kv/request-ids.ts): p99 -13 % and -7 % at 4 KiB, -9 % and
 * -11 % at 256 B; writes/s +10 %, +10 %, +4 %, -1 %; CPU per write -6 %, -9 %, -6 %, +3 %; four
 * earlier pairs of the same: CPU per write -4..-10 % in all, p99 -28, -1 % (4 KiB), -1, +7 %
 * (256 B); the flag alone, on main: p99 -13, -15 % (4 KiB), -10, +2 % (256 B). Footprint (64 x
 * 4 KiB, 60 s): peak RssAnon 88/83.6/81.3 MiB against main's 88.3/84/81.1 in the same hour. 100 %
 * halved the mark-compacts but raised peak RssAnon by 3-14 MiB (93-96 MiB, past the 90 MiB goal
 * of issue 17).
 * With 64 KiB values the trade differs. There the mark-compacts start almost only on this limit
 * (--trace-incremental-marking: "task" and "allocation limit", none for external memory pressure;
 * about 6 a second on a follower at 64 x 64 KiB, which scavenges once or twice in 10 s): the log's
 * entries, which die old, and the datagrams and decrypted records, which die young but wait for a
 * scavenge that little JavaScript allocation brings, use up the headroom within about 100 writes.
 * 100 % there (ab-coraft, one build with and without the flag): writes/s +15 % and CPU per write
 * -14 % at 64 x 64 KiB, +7-12 % and -9-13 % at 1 x 64 KiB, p99 -5 to +6 %; peak RssAnon +10-19 MiB
 * at 64 x 64 KiB. At 64 x 4 KiB in the same hour: +3 %, -1 %, p99 +12 %, peak RssAnon 81 -> 90 MiB.
 * So this percent is the one the agent starts with and keeps while entries are small; while they
 * are large it raises it (heap-growth.ts, with the figures of that choice).
 */
export const HEAP_GROWING_PERCENT = 50;

/**
 * V8 flags the agent sets on itself as it starts (cli/agent-command.ts, v8.setFlagsFromString), not
 * in the unit: Node refuses them in NODE_OPTIONS ("--heap-growing-percent= is not allowed in
 * NODE_OPTIONS", exit 9, before any of the agent runs), which is where the unit and its drop-ins
 * pass flags. Only flags V8 reads as it goes belong here: heap growth is computed at each full
 * collection, so setting it at start acts as the command-line flag does (same count of
 * mark-compacts in a test of both). A flag read once when the heap is set up (the sizes) stays in
 * fleet/memory-sizing.ts nodeFlagsOf; --single-threaded-gc, set after start, stops V8 with a failed check.
 * --expose-gc gives the buffer collector its full collection (buffer-collector.ts exposedCollector:
 * from a context made after the flag is set). The unit passed it in NODE_OPTIONS, which Node 20.11,
 * the newest armv7 build of Node 20 on the npm registry, refuses ("--expose-gc is not allowed in
 * NODE_OPTIONS", exit 9): the unit could not start the agent on an armv7 gateway (npm run test:arm).
 * Set with the others before the bundle is compiled, so that the code cache's flag hash is the same
 * at every start.
 */
export const AGENT_V8_FLAGS: readonly string[] = [`--heap-growing-percent=${HEAP_GROWING_PERCENT}`, '--expose-gc'];

/**
 * Sets AGENT_V8_FLAGS through `setFlags` (v8.setFlagsFromString in the agent), except a flag that
 * `given` (the process's command-line flags) names already: an operator's own value wins.
 */
export function applyAgentV8Flags(
  setFlags: (flags: string) => void,
  given: readonly string[] = process.execArgv,
): void {
  for (const flag of AGENT_V8_FLAGS) {
    if (!flagGiven(flag.split('=')[0] ?? flag, given)) setFlags(flag);
  }
}

/** Whether `given` (command-line flags) sets the V8 flag `name` ("--heap-growing-percent"), in either spelling. */
export function flagGiven(name: string, given: readonly string[] = process.execArgv): boolean {
  const spellings = [name, name.replaceAll('-', '_').replace(/^__/, '--')];
  return given.some((arg) => spellings.some((s) => arg === s || arg.startsWith(`${s}=`)));
}

/**
 * Whether V8 flags may change at run time from now on. V8 writes a hash of the flags in force
 * into the cached data it makes, and refuses data whose hash is not that of the flags in force
 * when it reads it (test/agent/runtime/heap-growth.test.ts). An agent
 * started without a code cache makes it only once it is ready (code-cache.ts, module-cache.ts): a
 * flag changed before then would go into the cache's hash, and the next start, at the flags it
 * sets as it starts, would refuse the cache and write it again, at every start. So the agent
 * changes a flag at run time (heap-growth.ts) only once the caches are written, or at once when
 * it runs without them; this opens it (cli/agent-command.ts).
 */
let runtimeFlagsOpen = false;

/** Lets V8 flags change at run time in this process (see {@link runtimeFlagsMayChange}). */
export function openRuntimeFlags(): void {
  runtimeFlagsOpen = true;
}

/** Whether this process's V8 flags may change at run time: once the code caches are written (openRuntimeFlags). */
export function runtimeFlagsMayChange(): boolean {
  return runtimeFlagsOpen;
}
