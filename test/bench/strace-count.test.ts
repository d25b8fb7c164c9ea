// Proves the reading of `strace -c` summaries (bench/_strace-count.ts) on real output shapes:
// rows with and without an errors column are counted by syscall, the header, rules and the
// total row are skipped, and the datagram sends add sendto, sendmsg and sendmmsg.
import { strict as assert } from 'node:assert';
import { sendCalls, syscallCounts } from '../../bench/_strace-count.js';

const SUMMARY = `% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 61.35    0.052151          11      4616           sendmsg
 38.65    0.032856           6      4844       312 recvmsg
  0.00    0.000000           0         3           sendto
------ ----------- ----------- --------- --------- ----------------
100.00    0.085007           9      9463       312 total
`;

describe('strace -c summaries', () => {
  it('counts the calls of each syscall and skips everything else', () => {
    assert.deepEqual(syscallCounts(SUMMARY), { sendmsg: 4616, recvmsg: 4844, sendto: 3 });
    assert.deepEqual(syscallCounts('strace: Process 12 attached\n'), {});
  });

  it('adds the datagram sends', () => {
    assert.equal(sendCalls(syscallCounts(SUMMARY)), 4619);
    assert.equal(sendCalls({ sendmmsg: 2, write: 9 }), 2);
  });
});
