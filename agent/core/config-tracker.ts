/**
 * Which cluster configuration is in force. Raft §6: a server uses the latest configuration in
 * its log, committed or not, so a configuration entry takes effect as soon as it is appended
 * and is undone if the entry is truncated. The tracker keeps the configuration as of the
 * commit index (or the snapshot, or the bootstrap) plus the configuration entries after it.
 */
import { assert } from '../../contracts/assert.js';
import { decodeConfiguration, leaveJoint } from './configuration.js';
import type { ClusterConfiguration, LogEntry, LogIndex } from '../../contracts/log.js';

/** A configuration and the index of the entry that holds it (0 for the bootstrap one). */
export interface IndexedConfiguration {
  readonly index: LogIndex;
  readonly config: ClusterConfiguration;
}

export class ConfigTracker {
  /** The latest configuration at or below the commit index. */
  private base: IndexedConfiguration;
  /** Configuration entries above base.index, in log order. Invariant: indexes increase. */
  private pending: IndexedConfiguration[] = [];

  constructor(base: IndexedConfiguration, entries: readonly LogEntry[]) {
    this.base = base;
    this.append(entries.filter((entry) => entry.index > base.index));
  }

  current(): ClusterConfiguration {
    return (this.pending[this.pending.length - 1] ?? this.base).config;
  }

  currentIndex(): LogIndex {
    return (this.pending[this.pending.length - 1] ?? this.base).index;
  }

  /** True when a configuration entry above `commitIndex` is in the log. */
  hasUncommitted(commitIndex: LogIndex): boolean {
    return this.currentIndex() > commitIndex;
  }

  /** Records the configuration entries among `entries` (appended to the log); returns whether any was. */
  append(entries: readonly LogEntry[]): boolean {
    let changed = false;
    for (const entry of entries) {
      if (entry.type !== 'config') continue;
      const config = decodeConfiguration(entry.command);
      assert(config !== null, `configuration entry ${entry.index} decodes`);
      assert(entry.index > this.currentIndex(), 'configuration entries are appended in order');
      this.pending.push({ index: entry.index, config });
      changed = true;
    }
    return changed;
  }

  /** Forgets configuration entries at or above `index` (they were truncated); returns whether any was. */
  truncateFrom(index: LogIndex): boolean {
    const before = this.pending.length;
    this.pending = this.pending.filter((c) => c.index < index);
    assert(this.base.index < index, 'the committed configuration is never truncated');
    return this.pending.length !== before;
  }

  /** Folds configuration entries at or below `commitIndex` into the committed one. */
  commitTo(commitIndex: LogIndex): void {
    while (this.pending.length > 0) {
      const first = this.pending[0];
      assert(first !== undefined, 'pending configuration exists');
      if (first.index > commitIndex) break;
      this.base = first;
      this.pending.shift();
    }
  }

  /**
   * Starts over from a snapshot's configuration and the entries the log kept after it, which end at
   * `lastIndex` (the snapshot's index when none was kept). The configuration entries among those are
   * the pending ones above the snapshot: the log kept its entries only if it held the snapshot's
   * last entry, so nothing it kept was appended or truncated since they were recorded. No entry is
   * read (those kept may be on disk only, log-window.ts).
   */
  restore(base: IndexedConfiguration, lastIndex: LogIndex): void {
    assert(lastIndex >= base.index, 'the log ends at or after the snapshot');
    this.pending = this.pending.filter((c) => c.index > base.index && c.index <= lastIndex);
    this.base = base;
  }

  /** The configuration that leaves the joint one in force. */
  leaveJointConfiguration(): ClusterConfiguration {
    return leaveJoint(this.current());
  }

  /** The configuration committed as of the commit index, with its index. */
  committed(): IndexedConfiguration {
    return this.base;
  }

  checkInvariants(commitIndex: LogIndex, lastIndex: LogIndex): void {
    assert(this.base.index <= commitIndex, 'the base configuration is committed');
    let previous = this.base.index;
    for (const c of this.pending) {
      assert(c.index > previous, 'configuration indexes increase');
      assert(c.index <= lastIndex, 'configuration entries are in the log');
      previous = c.index;
    }
  }
}
