/**
 * `coraft agent --trace FILE`: the simulator's JSON Lines events (leader, apply, snapshot,
 * config) for one real node, appended to a file, so that real clusters are checked with the
 * same tools as simulated ones. Lines are buffered and written in batches; a bounded buffer
 * drops (and counts) lines rather than grow without limit if the disk stalls.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import type { WriteStream } from 'node:fs';
import type { ClusterConfiguration, LogEntry, LogIndex, NodeId, SnapshotMeta, Term } from '../contracts.js';
import type { NodeObserver } from '../runtime/node.js';

/** Most bytes waiting to be written before lines are dropped. */
const PENDING_BYTES_MAX = 8 * 1024 * 1024;

export class TraceWriter implements NodeObserver {
  private readonly stream: WriteStream;
  private pendingBytes = 0;
  dropped = 0;

  constructor(
    file: string,
    private readonly node: NodeId,
    private readonly nowMs: () => number,
  ) {
    // Applied entries carry the values clients wrote: readable by the agent's user only.
    this.stream = createWriteStream(file, { flags: 'a', mode: 0o600 });
    this.stream.on('drain', () => {
      this.pendingBytes = 0;
    });
  }

  private write(event: Readonly<Record<string, unknown>>): void {
    const line = `${JSON.stringify(event)}\n`;
    if (this.pendingBytes + line.length > PENDING_BYTES_MAX) {
      this.dropped += 1;
      return;
    }
    if (!this.stream.write(line)) this.pendingBytes += line.length;
  }

  onLeader(term: Term): void {
    this.write({ t: this.nowMs(), type: 'leader', node: this.node, term });
  }

  onApply(entry: LogEntry): void {
    const digest = createHash('sha256').update(entry.command).digest('hex');
    this.write({ t: this.nowMs(), type: 'apply', node: this.node, index: entry.index, term: entry.term, digest });
  }

  onSnapshotRestore(meta: SnapshotMeta): void {
    this.write({ t: this.nowMs(), type: 'snapshot', node: this.node, index: meta.lastIncludedIndex, term: meta.lastIncludedTerm });
  }

  onConfiguration(index: LogIndex, configuration: ClusterConfiguration): void {
    this.write({ t: this.nowMs(), type: 'config', node: this.node, index, voters: configuration.voters, learners: configuration.learners, joint: configuration.oldVoters !== null });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.stream.end(() => resolve()));
  }
}
