// describeError gives the text of anything thrown: an Error's message (or its stack when asked),
// a RaftError's message without its code, and any other value as String() gives it.
import { strict as assert } from 'node:assert';
import { ConfigError, describeError } from '../../contracts/errors.js';

describe('describeError', () => {
  it("gives an Error's message, and its stack only when asked", () => {
    const error = new TypeError('bad input');
    assert.equal(describeError(error), 'bad input');
    assert.equal(describeError(error, { stack: true }), error.stack);
    assert.match(describeError(error, { stack: true }), /^TypeError: bad input\n\s+at /u);
  });

  it('gives the message of an error of coraft', () => {
    assert.equal(
      describeError(new ConfigError(['a: wrong', 'b: missing'])),
      new ConfigError(['a: wrong', 'b: missing']).message,
    );
  });

  it('falls back to the message when an Error has no stack', () => {
    const error = new Error('no stack');
    delete error.stack;
    assert.equal(describeError(error, { stack: true }), 'no stack');
  });

  it('gives any other thrown value as a string', () => {
    assert.equal(describeError('plain'), 'plain');
    assert.equal(describeError(42), '42');
    assert.equal(describeError(undefined), 'undefined');
    assert.equal(describeError(null, { stack: true }), 'null');
    assert.equal(describeError({ toString: () => 'custom' }), 'custom');
  });
});
