// Proves the record a node logs when it stops on a fatal error: a full disk (STORAGE_FULL) says
// "disk full", keeps the error naming the path, says that nothing acknowledged is lost and what to
// do; any other fatal error keeps the plain record.
import { strict as assert } from 'node:assert';
import { PersistenceError, RaftError } from '../../../contracts/errors.js';
import { fatalReport } from '../../../agent/runtime/fatal-report.js';

describe('fatal report', () => {
  it('says a full disk plainly: the path, what is safe, what to do', () => {
    const full = new PersistenceError(
      'STORAGE_FULL',
      'checkpoint to /data failed: the file system of /data is full (0 bytes free); EIO: Input/output error',
    );
    const report = fatalReport('n1', full);
    assert.equal(report.message, 'disk full: stopping the node');
    assert.match(String(report.fields['error']), /the file system of \/data is full/);
    assert.equal(report.fields['code'], 'STORAGE_FULL');
    assert.match(String(report.fields['safe']), /^no acknowledged write is lost/);
    assert.match(String(report.fields['action']), /^free space .* then start the agent again/);
  });

  it('keeps the plain record for other fatal errors', () => {
    const report = fatalReport('n1', new RaftError('RAFT_INVARIANT', 'broken'));
    assert.deepEqual(report, {
      message: 'fatal error; stopping the node',
      fields: { node: 'n1', error: 'broken', code: 'RAFT_INVARIANT' },
    });
  });
});
