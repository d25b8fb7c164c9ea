// Runs the core's interaction scripts (testdata/*.txt, one mocha test each; the commands are
// listed in interaction-commands.ts): each script drives RaftCores in an InteractionEnv and
// its output must equal the expected output written in the file, byte for byte (the core is
// deterministic: ticks and a seeded Prng). After a deliberate change of behaviour or output,
// regenerate the expected outputs with
//   REWRITE=1 npx mocha test/agent/core/interaction.test.ts
// and review every diff (git diff test/agent/core/testdata) before committing it.
import { strict as assert } from 'node:assert';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { firstDifference, runScript } from './datadriven.js';
import { InteractionEnv } from './interaction-env.js';
import { handleCase } from './interaction-commands.js';

const TESTDATA = join(import.meta.dirname, 'testdata');
const REWRITE = process.env['REWRITE'] === '1' || process.argv.includes('--rewrite');
/** The seed of every script's Prng: scripts differ by what they do, not by their luck. */
const SEED = 1;

/** Runs one script from a fresh env; returns the script with the outputs it gave. */
export function runInteraction(text: string, file: string): string {
  const env = new InteractionEnv(SEED);
  return runScript(text, file, (c) => handleCase(env, c));
}

describe('core interaction scripts (testdata/*.txt)', () => {
  const files = readdirSync(TESTDATA)
    .filter((f) => f.endsWith('.txt'))
    .sort();

  it('finds the scripts', () => {
    assert.ok(files.length >= 20, `${files.length} scripts`);
  });

  for (const name of files) {
    it(name, () => {
      const path = join(TESTDATA, name);
      const expected = readFileSync(path, 'utf8');
      const actual = runInteraction(expected, name);
      if (REWRITE) {
        if (actual !== expected) writeFileSync(path, actual);
        return;
      }
      const difference = firstDifference(expected, actual, name);
      const where = difference === null ? '' : ` (first at ${name}:${difference.line}, ${difference.command})`;
      assert.equal(actual, expected, `the output differs from the expected output${where}; REWRITE=1 regenerates it`);
    });
  }
});
