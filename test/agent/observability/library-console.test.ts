// Proves that output a library writes to the console itself (lmdb-js's console.error of a failed
// commit's error, on a full disk) reaches the agent's log as one warning record on one line, not a
// raw multi-line stack on stderr, and that the console is put back when asked.
import { strict as assert } from 'node:assert';
import { routeLibraryConsole } from '../../../agent/observability/library-console.js';
import { MemoryLogger } from '../../../agent/observability/noop.js';

describe('library console output', () => {
  it('logs console.error and console.warn as one warning record each, and restores them', () => {
    const logger = new MemoryLogger();
    const stderr = process.stderr.write.bind(process.stderr);
    let printed = '';
    process.stderr.write = (chunk: string | Uint8Array): boolean => ((printed += String(chunk)), true);
    const restore = routeLibraryConsole(logger, 'n1');
    try {
      // As lmdb-js does in its commit callback: the error object itself.
      console.error(Object.assign(new Error('Input/output error'), { code: 5 }));
      console.warn('a warning');
    } finally {
      restore();
      process.stderr.write = stderr;
    }
    assert.equal(printed, '', 'nothing printed around the log');
    assert.equal(logger.records.length, 2);
    const [error, warning] = logger.records;
    assert.equal(error?.level, 'warning');
    assert.match(String(error?.message), /output of a library/);
    assert.match(String(error?.fields['text']), /^Error: Input\/output error \| at .*code: 5/);
    assert.doesNotMatch(String(error?.fields['text']), /\n/);
    assert.equal(warning?.fields['text'], 'a warning');
    assert.notEqual(console.error, undefined);
    const after = logger.records.length;
    const quiet = console.warn;
    console.warn = () => undefined;
    try {
      console.warn('back to the console');
    } finally {
      console.warn = quiet;
    }
    assert.equal(logger.records.length, after, 'restored: no longer routed');
  });
});
