// Proves the configuration validator compiled ahead of time (agent/config/agent-config-validate.ts):
// it is exactly what Ajv makes of today's agent-config.schema.json (so a schema change without
// `npm run gen:config-validator` fails here), it reports every bad field by name as before,
// and it counts string lengths in code points as Ajv does (a surrogate pair is one character).
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { resolveAgentConfig } from '../../../agent/config/agent-config.js';
import { SCHEMA_FILE, VALIDATOR_FILE, validatorSource } from '../../../agent/config/validator-source.js';
import { ConfigError } from '../../../contracts/errors.js';
import { rawAgentConfig } from './raw-config.js';

const minimal = rawAgentConfig;

/** The problems a configuration is refused with ([] when it is accepted). */
function problems(raw: unknown): string[] {
  try {
    resolveAgentConfig(raw, '/etc/coraft/agent.json');
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.message.split('\n');
  }
}

describe('the precompiled configuration validator', () => {
  it('is what Ajv compiles from the schema today (run npm run gen:config-validator after a schema change)', () => {
    assert.equal(readFileSync(VALIDATOR_FILE, 'utf8'), validatorSource(readFileSync(SCHEMA_FILE, 'utf8')));
  });

  it('accepts a valid configuration', () => {
    assert.deepEqual(problems(minimal()), []);
  });

  it('names every bad field: unknown, missing, out of its enum', () => {
    const raw = { ...minimal({ colour: 'blue', codec: 'xml' }), dataDir: undefined };
    const found = problems(JSON.parse(JSON.stringify(raw)));
    assert.ok(
      found.some((p) => p.includes('unknown field "colour"')),
      found.join('\n'),
    );
    assert.ok(
      found.some((p) => p.includes('missing required field "dataDir"')),
      found.join('\n'),
    );
    assert.ok(
      found.some((p) => p.includes('codec: expected one of "cbor", "json", "protobuf"')),
      found.join('\n'),
    );
  });

  it('checks the lease limits of kv and leaves its other fields to the state machine', () => {
    assert.deepEqual(problems(minimal({ kv: { leaseTtlMsMin: 5000, leaseCountMax: 10, keyCountMax: 7 } })), []);
    const found = problems(minimal({ kv: { leaseTtlMsMin: 10, leaseKeysMax: 'many' } }));
    assert.ok(
      found.some((p) => p.includes('kv.leaseTtlMsMin') && p.includes('100')),
      found.join('\n'),
    );
    assert.ok(
      found.some((p) => p.includes('kv.leaseKeysMax')),
      found.join('\n'),
    );
  });

  it('counts maxLength in code points, as Ajv does', () => {
    const pairs = (n: number): string => '\u{1F600}'.repeat(n); // one character, two UTF-16 units
    const longest = problems(minimal({ metrics: { prefix: pairs(64) } }));
    assert.ok(!longest.some((p) => p.includes('metrics.prefix')), longest.join('\n'));
    const tooLong = problems(minimal({ metrics: { prefix: pairs(65) } }));
    assert.ok(
      tooLong.some((p) => p.includes('metrics.prefix')),
      tooLong.join('\n'),
    );
  });
});
