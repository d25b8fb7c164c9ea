// Proves the datadriven script format and the interaction commands' checks: command lines parse
// into bare words, values and lists; running a script keeps its comments, blank lines and
// commands byte for byte and puts each case's output in place of the expected one (which is
// what --rewrite writes back); the first case whose output differs is named by line; an
// output that would hold a blank line is refused; and a script with a typo (an unknown command
// or argument, a missing "----") fails instead of passing silently.
import { strict as assert } from 'node:assert';
import { firstDifference, parseCommandLine, parseScript, runScript } from './datadriven.js';
import { handleCase } from './interaction-commands.js';
import { InteractionEnv } from './interaction-env.js';

const run = (text: string): string => {
  const env = new InteractionEnv(1);
  return runScript(text, 'test.txt', (c) => handleCase(env, c));
};

describe('datadriven scripts', () => {
  it('parses bare words, key=value and key=(list) arguments', () => {
    assert.deepEqual(parseCommandLine('add-nodes 3 voters=(1,2,3) learners=() prevote=false (4,5)', 1), {
      command: 'add-nodes',
      args: [
        { key: '3', values: null },
        { key: 'voters', values: ['1', '2', '3'] },
        { key: 'learners', values: [] },
        { key: 'prevote', values: ['false'] },
        { key: '(4,5)', values: null },
      ],
    });
    assert.throws(() => parseCommandLine('x =1', 7), /line 7: argument "=1" has no key/);
    assert.throws(() => parseCommandLine('x k=(1,2', 7), /not closed/);
  });

  it('keeps comments, blank lines and commands, and replaces each expected output with the actual one', () => {
    const script = [
      '# A comment.',
      '',
      'add-nodes 1',
      '----',
      'stale output',
      'of two lines',
      '',
      '# Another.',
      'raft-log 1',
      '----',
      '',
    ].join('\n');
    const expected = [
      '# A comment.',
      '',
      'add-nodes 1',
      '----',
      '1: follower term=0 vote=none leader=none commit=0 applied=0 last=0 snapshot=0 voters=(1)',
      '',
      '# Another.',
      'raft-log 1',
      '----',
      'empty',
      '',
    ].join('\n');
    const actual = run(script);
    assert.equal(actual, expected);
    // Running the regenerated script gives it back unchanged: that is what the runner checks.
    assert.equal(run(actual), actual);
    assert.deepEqual(firstDifference(script, actual, 'test.txt'), { line: 3, command: 'add-nodes' });
    assert.equal(firstDifference(actual, actual, 'test.txt'), null);
  });

  it('writes an empty output as ok', () => {
    assert.match(run('add-nodes 2\n----\n\nheal\n----\n'), /heal\n----\nok\n$/);
  });

  it('refuses an output with a blank line, a command without "----", and typos', () => {
    assert.throws(() => runScript('cmd\n----\n', 'f.txt', () => 'a\n\nb'), /f\.txt:1: cmd printed a blank line/);
    assert.throws(
      () => parseScript('cmd\nnot a separator\n', 'f.txt'),
      /f\.txt:1: a command is followed by a line "----"/,
    );
    assert.throws(() => run('add-nodes 1\n----\n\nfly 1\n----\n'), /line 4: unknown command fly/);
    assert.throws(() => run('add-nodes 1 prevot=false\n----\n'), /add-nodes does not take prevot/);
    assert.throws(() => run('add-nodes 1 prevote=maybe\n----\n'), /prevote=maybe is not true or false/);
  });

  it('gives the same output on every run of a script (a deterministic core)', () => {
    const script =
      'add-nodes 3\n----\n\ncampaign 1\n----\n\nstabilize\n----\n\npropose 1 a\n----\n\nelapse ' +
      'ticks=30\n----\n\nstatus 1\n----\n';
    const first = run(script);
    assert.match(first, /1: leader term=1/);
    for (let i = 0; i < 3; i += 1) assert.equal(run(script), first);
  });
});
