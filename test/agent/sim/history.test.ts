// Proves the JSON Lines history format: valid events parse (all ops, numeric and string
// clients, cas arguments, blank lines), every kind of bad line is refused with an error naming
// its line, formatting round-trips, and pairing builds operations with Jepsen's meaning (info
// and missing completions complete at infinity) while refusing inconsistent pairings.
import { strict as assert } from 'node:assert';
import { SerializationError } from '../../../contracts/errors.js';
import type { HistoryEvent } from '../../../agent/sim/history.js';
import { formatHistoryEvent, pairOperations, parseHistory } from '../../../agent/sim/history.js';

const GOOD = [
  '{"t":0,"type":"invoke","client":"a","id":1,"op":"put","key":"x","value":"1"}',
  '{"t":1,"type":"invoke","client":7,"id":1,"op":"get","key":"x","value":null}',
  '',
  '{"t":2,"type":"ok","client":"a","id":1,"value":"1"}',
  '{"t":3,"type":"ok","client":7,"id":1,"value":"1"}',
  '{"t":4,"type":"invoke","client":"a","id":2,"op":"cas","key":"x","value":{"expect":"1","set":"2"}}',
  '{"t":5,"type":"info","client":"a","id":2,"value":null}',
  '{"t":6,"type":"invoke","client":7,"id":2,"op":"delete","key":"x","value":null}',
  '{"t":7,"type":"fail","client":7,"id":2,"value":null}',
  '{"t":8,"type":"invoke","client":7,"id":3,"op":"get","key":"x","value":null}',
].join('\n');

function expectLineError(text: string, pattern: RegExp): void {
  assert.throws(
    () => parseHistory(text),
    (e: unknown) => e instanceof SerializationError && e.code === 'CODEC_MALFORMED' && pattern.test(e.message),
  );
}

describe('history parsing', () => {
  it('parses every kind of event and skips blank lines', () => {
    const events = parseHistory(GOOD);
    assert.equal(events.length, 9);
    assert.deepEqual(events[4], {
      t: 4,
      type: 'invoke',
      client: 'a',
      id: 2,
      op: 'cas',
      key: 'x',
      value: { expect: '1', set: '2' },
    });
    assert.deepEqual(events[2], { t: 2, type: 'ok', client: 'a', id: 1, value: '1' });
  });

  it('round-trips through formatHistoryEvent', () => {
    const events = parseHistory(GOOD);
    const again = parseHistory(events.map(formatHistoryEvent).join('\n'));
    assert.deepEqual(again, events);
  });

  it('names the line of every bad event', () => {
    const invoke = '{"t":0,"type":"invoke","client":"a","id":1,"op":"put","key":"x","value":"1"}';
    expectLineError(`${invoke}\n{"t":1,`, /^history line 2: .*JSON/);
    expectLineError(`${invoke}\n\n[1]`, /^history line 3: expected a JSON object/);
    expectLineError('{"t":0,"type":"begin","client":"a","id":1,"value":null}', /line 1: 'type' must be/);
    expectLineError('{"t":"0","type":"ok","client":"a","id":1,"value":null}', /line 1: 't' must be a finite number/);
    expectLineError('{"t":0,"type":"ok","client":"","id":1,"value":null}', /line 1: 'client' must be/);
    expectLineError('{"t":0,"type":"ok","client":"a","id":-1,"value":null}', /line 1: 'id' must be/);
    expectLineError('{"t":0,"type":"ok","client":"a","id":1}', /line 1: a completion must have a 'value'/);
    expectLineError('{"t":0,"type":"ok","client":"a","id":1,"value":3}', /line 1: a completion's 'value'/);
    expectLineError('{"t":0,"type":"invoke","client":"a","id":1,"op":"incr","key":"x","value":null}', /'op' must be/);
    expectLineError(
      '{"t":0,"type":"invoke","client":"a","id":1,"op":"put","key":"x","value":null}',
      /a put's 'value' must be a string/,
    );
    expectLineError(
      '{"t":0,"type":"invoke","client":"a","id":1,"op":"get","key":"x","value":"v"}',
      /a get's 'value' must be null/,
    );
    expectLineError(
      '{"t":0,"type":"invoke","client":"a","id":1,"op":"cas","key":"x","value":{"set":"1"}}',
      /must have 'expect' and 'set'/,
    );
    expectLineError(
      '{"t":0,"type":"invoke","client":"a","id":1,"op":"cas","key":"x","value":{"expect":null,"set":1}}',
      /'set' must be a string/,
    );
    expectLineError(
      '{"t":0,"type":"invoke","client":"a","id":1,"op":"put","key":"x","value":"v","extra":1}',
      /unexpected field 'extra'/,
    );
    expectLineError('{"t":0,"type":"invoke","client":"a","id":1,"op":"put","value":"v"}', /'key' must be a string/);
  });

  it('limits the number of events', () => {
    assert.throws(() => parseHistory(GOOD, { eventsMax: 3 }), { code: 'CODEC_LIMIT' });
  });
});

describe('history pairing', () => {
  it('pairs invokes with completions; info and missing completions complete at infinity', () => {
    const ops = pairOperations(parseHistory(GOOD));
    assert.equal(ops.length, 5);
    assert.deepEqual(ops[0], {
      client: 'a',
      id: 1,
      op: 'put',
      key: 'x',
      value: '1',
      output: null,
      invokeMs: 0,
      completeMs: 2,
      status: 'ok',
    });
    assert.deepEqual(ops[1], {
      client: 7,
      id: 1,
      op: 'get',
      key: 'x',
      value: null,
      output: '1',
      invokeMs: 1,
      completeMs: 3,
      status: 'ok',
    });
    assert.equal(ops[2]?.status, 'info');
    assert.equal(ops[2]?.completeMs, Infinity);
    assert.equal(ops[3]?.status, 'fail');
    assert.deepEqual([ops[4]?.status, ops[4]?.completeMs], ['info', Infinity], 'never completed');
  });

  it('keeps string and numeric clients apart', () => {
    const events: HistoryEvent[] = [
      { t: 0, type: 'invoke', client: 1, id: 1, op: 'get', key: 'x', value: null },
      { t: 0, type: 'invoke', client: '1', id: 1, op: 'get', key: 'x', value: null },
      { t: 1, type: 'ok', client: '1', id: 1, value: 'v' },
    ];
    const ops = pairOperations(events);
    assert.deepEqual(
      ops.map((o) => o.status),
      ['info', 'ok'],
    );
  });

  it('refuses inconsistent pairings, naming the event', () => {
    const invoke: HistoryEvent = { t: 5, type: 'invoke', client: 'a', id: 1, op: 'get', key: 'x', value: null };
    const ok: HistoryEvent = { t: 6, type: 'ok', client: 'a', id: 1, value: null };
    assert.throws(
      () => pairOperations([ok]),
      /event 1 \(client "a", id 1\): completes an operation that was not invoked/,
    );
    assert.throws(() => pairOperations([invoke, invoke]), /event 2 .*repeats an invoke/);
    assert.throws(() => pairOperations([invoke, ok, ok]), /event 3 .*a second time/);
    assert.throws(() => pairOperations([invoke, { ...ok, t: 4 }]), /completes at 4 before its invoke at 5/);
    assert.throws(
      () => pairOperations([invoke, { ...ok, value: { expect: null, set: 'v' } }]),
      /an ok get must carry a string or null/,
    );
  });
});
