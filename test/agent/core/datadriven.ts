// The datadriven script format of the core's interaction tests (after cockroachdb/datadriven,
// which etcd-io/raft's testdata/*.txt use). A script is a sequence of cases:
//
//   # Comment lines and blank lines between cases are kept as they are.
//   command pos1 pos2 key=value list=(a,b,c)
//   ----
//   the expected output, one or more lines, no blank line
//
// A case ends at the first blank line after `----` (or at the end of the file). An empty output
// is written as `ok`, so that an expected output never holds a blank line. `runScript` runs every
// case through a handler and returns the script with the outputs the handler gave, which is
// the file's text itself when every output matched; the runner compares the two, or writes the
// new text back in rewrite mode.

/** One argument of a command line: `key=value`, `key=(a,b)`, or a bare word (values null). */
export interface Argument {
  readonly key: string;
  readonly values: readonly string[] | null;
}

/** One case of a script. */
export interface Case {
  /** The 1-based line of the command, for messages. */
  readonly line: number;
  readonly command: string;
  readonly args: readonly Argument[];
  readonly expected: string;
}

type Chunk =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'case'; readonly commandLine: string; readonly testCase: Case };

/** Parses one command line: the command, then its arguments separated by spaces. */
export function parseCommandLine(text: string, line: number): { command: string; args: Argument[] } {
  const words = text.trim().split(/\s+/u);
  const command = words.shift();
  if (command === undefined || command === '') throw new Error(`line ${line}: empty command`);
  const args: Argument[] = [];
  for (const word of words) {
    const eq = word.indexOf('=');
    if (eq < 0) {
      args.push({ key: word, values: null });
      continue;
    }
    const key = word.slice(0, eq);
    const value = word.slice(eq + 1);
    if (key === '') throw new Error(`line ${line}: argument ${JSON.stringify(word)} has no key`);
    if (value.startsWith('(')) {
      if (!value.endsWith(')')) throw new Error(`line ${line}: list ${JSON.stringify(word)} is not closed`);
      const inner = value.slice(1, -1);
      args.push({ key, values: inner === '' ? [] : inner.split(',') });
    } else {
      args.push({ key, values: [value] });
    }
  }
  return { command, args };
}

function parseChunks(text: string, file: string): Chunk[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const chunks: Chunk[] = [];
  let at = 0;
  while (at < lines.length) {
    const line = lines[at] ?? '';
    if (line.trim() === '' || line.startsWith('#')) {
      chunks.push({ kind: 'text', text: line });
      at += 1;
      continue;
    }
    const start = at + 1;
    if (lines[at + 1] !== '----') throw new Error(`${file}:${start}: a command is followed by a line "----"`);
    const output: string[] = [];
    at += 2;
    while (at < lines.length && (lines[at] ?? '') !== '') {
      output.push(lines[at] ?? '');
      at += 1;
    }
    const { command, args } = parseCommandLine(line, start);
    chunks.push({
      kind: 'case',
      commandLine: line,
      testCase: { line: start, command, args, expected: output.join('\n') },
    });
  }
  return chunks;
}

/** The cases of a script. */
export function parseScript(text: string, file: string): Case[] {
  return parseChunks(text, file).flatMap((chunk) => (chunk.kind === 'case' ? [chunk.testCase] : []));
}

/**
 * Runs every case of `text` through `handle` (which returns the case's output) and returns the
 * script with the actual outputs in place of the expected ones; comments, blank lines and
 * command lines are kept byte for byte. An output that would hold a blank line is refused, since
 * the format could not read it back.
 */
export function runScript(text: string, file: string, handle: (testCase: Case) => string): string {
  const out: string[] = [];
  for (const chunk of parseChunks(text, file)) {
    if (chunk.kind === 'text') {
      out.push(chunk.text);
      continue;
    }
    const output = handle(chunk.testCase).replace(/\n+$/u, '');
    const lines = output === '' ? ['ok'] : output.split('\n');
    if (lines.some((l) => l.trim() === ''))
      throw new Error(`${file}:${chunk.testCase.line}: ${chunk.testCase.command} printed a blank line`);
    out.push(chunk.commandLine, '----', ...lines);
  }
  return `${out.join('\n')}\n`;
}

/** The line of the first case whose output differs between two runs of the same script, or null. */
export function firstDifference(
  expected: string,
  actual: string,
  file: string,
): { line: number; command: string } | null {
  const a = parseScript(expected, file);
  const b = parseScript(actual, file);
  for (let i = 0; i < Math.max(a.length, b.length); i += 1) {
    const x = a[i];
    const y = b[i];
    if (x === undefined || y === undefined || x.expected !== y.expected)
      return { line: (x ?? y)?.line ?? 0, command: (x ?? y)?.command ?? '' };
  }
  return null;
}
