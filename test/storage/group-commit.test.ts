// Proves the group commit queue with a scripted commit function: writes that arrive while a
// commit runs go together into the next one, resolve in order and only after their commit;
// groups respect the count and byte limits; the waiting limits refuse with STORAGE_FULL; and
// one failed commit rejects its group, everything waiting and everything after with its error.
import { strict as assert } from 'node:assert';
import { PersistenceError } from '../../contracts/errors.js';
import { GroupCommitQueue } from '../../storage/group-commit.js';
import type { QueuedWrite } from '../../storage/group-commit.js';

const LIMITS = { pendingWritesMax: 100, pendingBytesMax: 10_000, writesPerCommitMax: 10, bytesPerCommitMax: 1000 };

/** A commit function whose commits finish when the test says so. */
class ScriptedCommits {
  readonly groups: number[][] = [];
  private readonly finishers: ((error?: Error) => void)[] = [];

  readonly commit = (writes: readonly QueuedWrite<number>[]): Promise<void> => {
    this.groups.push(writes.map((w) => w.payload));
    return new Promise((resolve, reject) =>
      this.finishers.push((error) => (error === undefined ? resolve() : reject(error))),
    );
  };

  finish(error?: Error): void {
    const finisher = this.finishers.shift();
    assert.ok(finisher !== undefined, 'a commit is running');
    finisher(error);
  }
}

/** Lets promise callbacks run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i += 1) await Promise.resolve();
}

describe('GroupCommitQueue', () => {
  it('groups writes that arrive during a commit and resolves them in order after it', async () => {
    const commits = new ScriptedCommits();
    const queue = new GroupCommitQueue(commits.commit, LIMITS);
    const done: number[] = [];
    const track = (n: number): Promise<void> => queue.enqueue(n, 10).then(() => void done.push(n));
    const writes = [track(1), track(2), track(3)];
    await settle();
    assert.deepEqual(commits.groups, [[1]]);
    writes.push(track(4));
    commits.finish();
    await settle();
    assert.deepEqual(done, [1]);
    assert.deepEqual(commits.groups, [[1], [2, 3, 4]]);
    commits.finish();
    await Promise.all(writes);
    assert.deepEqual(done, [1, 2, 3, 4]);
    await queue.drain();
  });

  it('keeps each group within the count and byte limits', async () => {
    const commits = new ScriptedCommits();
    const queue = new GroupCommitQueue(commits.commit, LIMITS);
    const writes = [queue.enqueue(0, 10)];
    for (let n = 1; n <= 12; n += 1) writes.push(queue.enqueue(n, 10));
    writes.push(queue.enqueue(13, 990), queue.enqueue(14, 2000));
    for (let i = 0; i < 5; i += 1) {
      await settle();
      commits.finish();
    }
    await Promise.all(writes);
    assert.deepEqual(commits.groups, [[0], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [11, 12], [13], [14]]);
  });

  it('refuses writes beyond the waiting limits with STORAGE_FULL', async () => {
    const commits = new ScriptedCommits();
    const queue = new GroupCommitQueue(commits.commit, { ...LIMITS, pendingWritesMax: 3 });
    const writes = [queue.enqueue(0, 10), queue.enqueue(1, 10), queue.enqueue(2, 10), queue.enqueue(3, 10)];
    assert.throws(() => queue.enqueue(4, 10), { code: 'STORAGE_FULL' });
    assert.throws(() => queue.checkAccepts(10_000), { code: 'STORAGE_FULL' });
    commits.finish();
    await settle();
    commits.finish();
    await Promise.all(writes);
  });

  it('fails the group, the waiting writes and every later write with the commit error', async () => {
    const commits = new ScriptedCommits();
    const queue = new GroupCommitQueue(commits.commit, LIMITS);
    const first = queue.enqueue(1, 10);
    const waiting = queue.enqueue(2, 10);
    await settle();
    const failure = new PersistenceError('STORAGE_FULL', 'disk full');
    commits.finish(failure);
    await assert.rejects(first, (error) => error === failure);
    await assert.rejects(waiting, (error) => error === failure);
    assert.throws(
      () => queue.enqueue(3, 10),
      (error) => error === failure,
    );
    assert.equal(queue.failed(), failure);
    await queue.drain();
    assert.deepEqual(commits.groups, [[1]]);
  });

  it('wraps a commit error that is not a RaftError in STORAGE_IO', async () => {
    const commits = new ScriptedCommits();
    const queue = new GroupCommitQueue(commits.commit, LIMITS);
    const write = queue.enqueue(1, 10);
    await settle();
    commits.finish(new Error('boom'));
    await assert.rejects(write, { code: 'STORAGE_IO' });
  });
});
