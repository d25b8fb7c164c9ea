// Proves that agent.json's schema describes the kv limits it lists as the state machine reads them
// (agent/kv/options.ts): each one is a KvOptions field, its description names the field's default,
// the state machine accepts the schema's minimum and maximum (with the other fields at their
// defaults, or at their smallest where the bound depends on them), and refuses one past the maximum.
import { strict as assert } from 'node:assert';
import schema from '../../../agent/config/agent-config.schema.json' with { type: 'json' };
import { DEFAULT_KV_OPTIONS, validateKvOptions } from '../../../agent/kv/options.js';
import type { KvOptions } from '../../../agent/kv/options.js';

interface Property {
  readonly description: string;
  readonly minimum?: number;
  readonly maximum?: number;
}

const listed: Readonly<Record<string, Property>> = schema.properties.kv.properties;
/** Fields whose least value depends on others: those others at their smallest. */
const SMALLEST: Partial<KvOptions> = {
  keyBytesMax: 1,
  valueBytesMax: 0,
  cachedResponseBytesMax: 64,
  leaseTtlMsMin: 100,
};

function isField(name: string): name is keyof KvOptions {
  return Object.hasOwn(DEFAULT_KV_OPTIONS, name);
}

describe('agent.json schema: the kv limits', () => {
  it('lists the fields that size the store, each a KvOptions field with its default named', () => {
    for (const field of ['dataBytesMax', 'keyCountMax', 'historyBytesMax', 'sessionBytesMax'])
      assert.ok(field in listed, `${field} is listed`);
    for (const [name, property] of Object.entries(listed)) {
      assert.ok(isField(name), `${name} is a KvOptions field`);
      assert.ok(
        property.description.includes(`default ${DEFAULT_KV_OPTIONS[name]}`),
        `${name}: the description names its default ${DEFAULT_KV_OPTIONS[name]}`,
      );
    }
  });

  it('gives the bounds the state machine checks', () => {
    for (const [name, property] of Object.entries(listed)) {
      if (!isField(name)) continue;
      const at = (value: number): string[] => validateKvOptions({ ...DEFAULT_KV_OPTIONS, ...SMALLEST, [name]: value });
      if (property.minimum !== undefined) assert.deepEqual(at(property.minimum), [], `${name} = its minimum`);
      if (property.maximum === undefined) continue;
      assert.deepEqual(at(property.maximum), [], `${name} = its maximum`);
      assert.notDeepEqual(at(property.maximum + 1), [], `${name} past its maximum is refused`);
    }
  });
});
