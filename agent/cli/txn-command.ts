/**
 * `coraft txn --file F [--json]`: sends the transaction in F (JSON, `-` for standard input; the
 * format of POST /txn: {"compare":[...],"success":[...],"failure":[...]}) and prints which branch
 * ran and each operation's result; `--json` prints the endpoint's answer as it is. Exit 0 when
 * the transaction ran (whichever branch), 1 when the node refused it.
 */
import { readFileSync } from 'node:fs';
import { parseOptions, UsageError } from './args.js';
import { CLIENT_EXIT, COMMON, out, withClient } from './client-common.js';
import { JsonFields } from './endpoint-client.js';

const HELP = `usage: coraft txn --file F [--json]
Runs the transaction in F (JSON; - reads standard input) as one write:
  {"compare":[{"key":K,"revision":R} | {"key":K,"value":V} | {"key":K,"absent":true}],
   "success":[{"op":"put","key":K,"value":V[,"lease":L]} | {"op":"delete","key":K} | {"op":"get","key":K}],
   "failure":[...]}
options: --endpoint HOST:PORT, --endpoint-key FILE [--endpoint-identity ID], --json, --timeout-ms MS`;

/** One line per operation result. */
function describeResult(result: JsonFields): string {
  const op = result.string('op');
  if (op === 'put') return `put: revision ${result.number('revision')}`;
  if (op === 'delete') return result.boolean('deleted') ? 'delete: deleted' : 'delete: did not exist';
  const key = result.string('key');
  if (!result.boolean('found')) return `get ${key}: (absent)`;
  const value = result.nullableString('value') ?? `base64:${result.nullableString('valueBase64') ?? ''}`;
  return `get ${key}: ${value} (revision ${result.number('revision')})`;
}

/** Runs `coraft txn`. */
export async function runTxn(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseOptions(args, { ...COMMON, file: { type: 'string' } });
  if (values.help === true || values.file === undefined || positionals.length > 0) {
    out(HELP);
    return values.help === true ? CLIENT_EXIT.ok : CLIENT_EXIT.usage;
  }
  let text: string;
  try {
    text = readFileSync(values.file === '-' ? 0 : values.file, 'utf8');
    JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--file ${values.file}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return withClient(values, async (client) => {
    const response = await client.call({
      method: 'POST',
      path: ['txn'],
      payload: new TextEncoder().encode(text),
      contentFormat: 50,
    });
    const answer = new TextDecoder().decode(response.payload);
    if (values.json === true) {
      out(answer);
      return CLIENT_EXIT.ok;
    }
    const body = JsonFields.of(JSON.parse(answer), 'the transaction answer');
    const branch = body.boolean('succeeded') ? 'success' : 'failure';
    out(`${branch} branch ran at revision ${body.number('revision')}`);
    for (const result of body.objects('results')) out(describeResult(result));
    return CLIENT_EXIT.ok;
  });
}
