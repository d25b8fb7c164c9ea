// Proves that .ci/conflict-markers (run first by .ci/run) refuses a work tree whose tracked
// files hold merge-conflict markers and passes a clean one: it builds a throwaway git
// repository in a temporary folder, commits a file with and without markers, and runs the
// script there.
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const SCRIPT = resolve(import.meta.dirname, '../../.ci/conflict-markers');

describe('.ci/conflict-markers', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'coraft-markers-'));
    execFileSync('git', ['init', '-q'], { cwd: dir });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const track = (name: string, text: string): void => {
    writeFileSync(join(dir, name), text);
    execFileSync('git', ['add', name], { cwd: dir });
  };
  const run = (): { status: number | null; stderr: string } => {
    const result = spawnSync(SCRIPT, { cwd: dir, encoding: 'utf8' });
    return { status: result.status, stderr: result.stderr };
  };

  it('passes a tree without markers, or with a Markdown heading underlined by =======', () => {
    track('README.md', '# title\n\nSection\n=======\n\ntext <<<<<<< inline\n');
    assert.equal(run().status, 0);
  });

  it('fails on a committed conflict and names the file and line', () => {
    track('README.md', 'intro\n<<<<<<< HEAD\nmine\n=======\ntheirs\n>>>>>>> branch\n');
    const result = run();
    assert.equal(result.status, 1);
    assert.match(result.stderr, /README\.md:2:<<<<<<< HEAD/);
    assert.match(result.stderr, /README\.md:6:>>>>>>> branch/);
  });
});
