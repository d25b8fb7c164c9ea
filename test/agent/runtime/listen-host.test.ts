// Proves that a listen.peer host that does not resolve is an operating error that names the
// field (NetworkError NET_UNREACHABLE, which coraft agent exits 69 on), not a bare getaddrinfo
// error (exit 70, internal error); that an IP literal is never looked up; and that a name that
// resolves passes. The resolver is a fake; startup-errors.test.ts runs the real one.
import { strict as assert } from 'node:assert';
import { checkListenPeerHost, type HostLookup } from '../../../agent/runtime/listen-host.js';
import { EXIT, exitCodeFor } from '../../../agent/runtime/agent.js';
import { NetworkError } from '../../../contracts/errors.js';

describe('runtime: listen.peer host check', () => {
  const looked: string[] = [];
  const lookup =
    (answer: 'ok' | 'ENOTFOUND'): HostLookup =>
    (host) => {
      looked.push(host);
      if (answer === 'ok') return Promise.resolve({ address: '192.0.2.1', family: 4 });
      return Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' }));
    };

  beforeEach(() => (looked.length = 0));

  it('refuses a name that does not resolve, naming listen.peer, with the exit code 69', async () => {
    const error: unknown = await checkListenPeerHost('gw1.invalid', lookup('ENOTFOUND')).then(
      () => assert.fail('accepted'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof NetworkError);
    assert.equal(error.code, 'NET_UNREACHABLE');
    assert.match(error.message, /^listen\.peer: cannot resolve the host "gw1\.invalid" \(.*ENOTFOUND/);
    assert.equal(exitCodeFor(error), EXIT.unavailable);
  });

  it('takes a name that resolves, and IP literals without a lookup', async () => {
    await checkListenPeerHost('gw1.local', lookup('ok'));
    await checkListenPeerHost('127.0.0.1', lookup('ENOTFOUND'));
    await checkListenPeerHost('::', lookup('ENOTFOUND'));
    assert.deepEqual(looked, ['gw1.local']);
  });
});
