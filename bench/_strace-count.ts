/**
 * Reading `strace -c` summaries: the calls of each traced system call, from the table strace
 * writes on exit (columns % time, seconds, usecs/call, calls, [errors,] syscall). Pure and tested
 * (test/bench/strace-count.test.ts); bench/peer-sends.ts runs strace and uses it.
 */

/** The calls per system call of one `strace -c` summary; lines that are not table rows are skipped. */
export function syscallCounts(summary: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of summary.split('\n')) {
    const match = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?([a-z_0-9]+)\s*$/.exec(line);
    const calls = match?.[1];
    const name = match?.[2];
    if (calls === undefined || name === undefined || name === 'total') continue;
    counts[name] = Number(calls);
  }
  return counts;
}

/** The datagram sends of a summary: sendto, sendmsg and sendmmsg calls together. */
export function sendCalls(counts: Readonly<Record<string, number>>): number {
  return (counts['sendto'] ?? 0) + (counts['sendmsg'] ?? 0) + (counts['sendmmsg'] ?? 0);
}
