// Proves protobufjs is loaded on demand and its absence is a clear configuration error:
// importing the codec does not load protobufjs (checked in a fresh process), making a protobuf
// serializer does, and a missing protobufjs is a ConfigError telling the operator to install it
// while other load failures pass through unchanged.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { ConfigError } from '../../contracts/errors.js';
import { requireProtobuf } from '../../codec/protobuf-module.js';

const ROOT = new URL('../..', import.meta.url);
const notFound = (message: string): Error => Object.assign(new Error(message), { code: 'MODULE_NOT_FOUND' });

/** Runs `body` in a fresh node (through tsx) and returns what it prints. */
function inFreshNode(body: string): string {
  return execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', body], {
    cwd: ROOT,
    encoding: 'utf8',
  }).trim();
}

describe('protobufjs on demand', () => {
  it('is not loaded by importing the codec, and is loaded by making a protobuf serializer', () => {
    const out = inFreshNode(
      [
        "import { createRequire } from 'node:module';",
        'const cache = createRequire(import.meta.url).cache;',
        "const loaded = () => Object.keys(cache).some((k) => k.includes('/node_modules/protobufjs/'));",
        "const codec = await import('./codec/index.ts');",
        'const before = loaded();',
        "codec.createSerializer('cbor');",
        'const afterCbor = loaded();',
        "codec.createSerializer('protobuf');",
        'console.log(JSON.stringify([before, afterCbor, loaded()]));',
      ].join('\n'),
    );
    assert.deepEqual(JSON.parse(out), [false, false, true]);
  });

  it('turns a missing protobufjs into a ConfigError that says to install it', () => {
    assert.throws(
      () =>
        requireProtobuf(() => {
          throw notFound("Cannot find module 'protobufjs'\nRequire stack:\n- /opt/coraft/dist/codec/x.js");
        }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.code === 'CONFIG_INVALID' &&
        /install protobufjs to use codec protobuf/.test(error.message),
    );
  });

  it('passes other failures through: a module missing inside protobufjs, a module that is not protobufjs', () => {
    const inner = notFound("Cannot find module '@protobufjs/float'");
    assert.throws(
      () =>
        requireProtobuf(() => {
          throw inner;
        }),
      (error: unknown) => error === inner,
    );
    assert.throws(() => requireProtobuf(() => ({ parse: () => null })), /does not export parse, Reader, Type and Root/);
  });
});
