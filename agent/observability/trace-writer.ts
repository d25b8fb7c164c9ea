/**
 * `coraft agent --trace FILE`: the simulator's JSON Lines events (restart, leader, apply,
 * snapshot, config; the format: agent/sim/trace-check.ts) for one real node, appended to a
 * file, so that real clusters are checked with the same tools as simulated ones. The first line
 * of every run of the agent is its `restart` (then a `snapshot` line if it restored one from its
 * disk), so that a checker tells the entries a restarted node re-applies from a double apply.
 * Lines are buffered and written in batches; a bounded buffer drops (and counts) lines rather
 * than grow without limit if the disk stalls.
 */
import { createHash } from 'node:crypto';
import { closeSync, createWriteStream, fstatSync, openSync, readSync } from 'node:fs';
import type { WriteStream } from 'node:fs';
import type { ClusterConfiguration, LogEntry, LogIndex, NodeId, SnapshotMeta, Term } from '../../contracts/log.js';
import type { NodeObserver } from '../runtime/node-deps.js';

/** Most bytes waiting to be written before lines are dropped. */
const PENDING_BYTES_MAX = 8 * 1024 * 1024;

/** Whether `file` exists and its last byte is not a newline. */
function endsMidLine(file: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    if (error instanceof Error && 'code' in error && error.code === 'ENOENT') return false;
    throw error;
  }
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return false;
    const last = Buffer.alloc(1);
    readSync(fd, last, 0, 1, size - 1);
    return last[0] !== 0x0a;
  } finally {
    closeSync(fd);
  }
}

export class TraceWriter implements NodeObserver {
  private readonly stream: WriteStream;
  private pendingBytes = 0;
  /** Written before the first line: a newline when the file ends in the middle of a line. */
  private prefix: string;
  dropped = 0;

  constructor(
    file: string,
    private readonly node: NodeId,
    private readonly nowMs: () => number,
    /** This node is a witness: its apply lines say so (trace-check.ts compares their terms only). */
    private readonly witness = false,
  ) {
    // A line cut short at the end of the file (the last run was killed while writing it) would
    // swallow this run's first line, its `restart`: start on a line of our own.
    this.prefix = endsMidLine(file) ? '\n' : '';
    // Applied entries carry the values clients wrote: readable by the agent's user only.
    this.stream = createWriteStream(file, { flags: 'a', mode: 0o600 });
    this.stream.on('drain', () => {
      this.pendingBytes = 0;
    });
  }

  private write(event: Readonly<Record<string, unknown>>): void {
    const line = `${this.prefix}${JSON.stringify(event)}\n`;
    this.prefix = '';
    if (this.pendingBytes + line.length > PENDING_BYTES_MAX) {
      this.dropped += 1;
      return;
    }
    if (!this.stream.write(line)) this.pendingBytes += line.length;
  }

  onRestart(snapshot: SnapshotMeta | null): void {
    this.write({ t: this.nowMs(), type: 'restart', node: this.node });
    if (snapshot !== null) this.onSnapshotRestore(snapshot);
  }

  onLeader(term: Term): void {
    this.write({ t: this.nowMs(), type: 'leader', node: this.node, term });
  }

  onApply(entry: LogEntry): void {
    const digest = createHash('sha256').update(entry.command).digest('hex');
    const witness = this.witness ? { witness: true } : {};
    this.write({
      t: this.nowMs(),
      type: 'apply',
      node: this.node,
      index: entry.index,
      term: entry.term,
      digest,
      ...witness,
    });
  }

  onSnapshotRestore(meta: SnapshotMeta): void {
    this.write({
      t: this.nowMs(),
      type: 'snapshot',
      node: this.node,
      index: meta.lastIncludedIndex,
      term: meta.lastIncludedTerm,
    });
  }

  onConfiguration(index: LogIndex, configuration: ClusterConfiguration): void {
    this.write({
      t: this.nowMs(),
      type: 'config',
      node: this.node,
      index,
      voters: configuration.voters,
      learners: configuration.learners,
      joint: configuration.oldVoters !== null,
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.stream.end(() => resolve()));
  }
}
