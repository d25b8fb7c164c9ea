/**
 * `coraft watch [--prefix P | KEY] [--since R] [--json] [--once] [--interval-ms N]`: prints every
 * change to the keys under P (or to KEY, which need not exist) after revision R, one per line,
 * in revision order, then keeps following: it asks `GET /watch?...&since=` with the last
 * revision it printed, every N ms (default 500), so no change is missed or printed twice, also
 * across a leader change or a lost answer. Without --since it starts at the current revision.
 * `--once` prints the changes after R and ends. A `since` older than the node's history window
 * ends with exit 1 and `compacted: oldest revision N`.
 */
import { intOption, parseOptions, UsageError } from './args.js';
import { CLIENT_EXIT, COMMON, out, withClient } from './client-common.js';
import { JsonFields } from './endpoint-client.js';
import type { EndpointClient } from './endpoint-client.js';

const HELP = `usage: coraft watch [--prefix P | KEY] [--since R] [--json] [--once] [--interval-ms N]
Prints each change (put or delete) to the keys under P, or to KEY, after revision R, one per
line, and keeps following until interrupted (--once: print the changes after R and end).
options: --endpoint HOST:PORT, --endpoint-key FILE [--endpoint-identity ID], --json, --timeout-ms MS`;

interface WatchPage {
  readonly revision: number;
  readonly events: readonly JsonFields[];
  readonly more: boolean;
}

async function page(client: EndpointClient, target: string, since: number | null): Promise<WatchPage> {
  const query = [target, ...(since === null ? [] : [`since=${since}`])];
  const response = await client.call({ method: 'GET', path: ['watch'], query });
  const body = JsonFields.of(JSON.parse(new TextDecoder().decode(response.payload)), 'the watch answer');
  return { revision: body.number('revision'), events: body.objects('events'), more: body.boolean('more') };
}

function line(event: JsonFields, json: boolean): string {
  const type = event.string('type');
  const key = event.string('key');
  const revision = event.number('revision');
  const base64 = event.nullableString('valueBase64');
  const value = type === 'put' ? (event.nullableString('value') ?? `base64:${base64 ?? ''}`) : null;
  if (json)
    return JSON.stringify({
      type,
      key,
      ...(type === 'put' ? (base64 === null ? { value } : { valueBase64: base64 }) : {}),
      revision,
    });
  return type === 'put' ? `put ${key} = ${value ?? ''} (revision ${revision})` : `delete ${key} (revision ${revision})`;
}

/** Runs `coraft watch`. */
export async function runWatch(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseOptions(args, {
    ...COMMON,
    prefix: { type: 'string' },
    since: { type: 'string' },
    once: { type: 'boolean' },
    'interval-ms': { type: 'string' },
  });
  if (values.help === true || positionals.length > 1 || (positionals.length === 1) === (values.prefix !== undefined)) {
    out(HELP);
    return values.help === true ? CLIENT_EXIT.ok : CLIENT_EXIT.usage;
  }
  const key = positionals[0];
  if (key === '') throw new UsageError('KEY must not be empty');
  const target = key === undefined ? `prefix=${values.prefix ?? ''}` : `key=${key}`;
  const intervalMs = intOption(values['interval-ms'], 'interval-ms', 500, 10, 3_600_000);
  let since: number | null =
    values.since === undefined ? null : intOption(values.since, 'since', 0, 0, Number.MAX_SAFE_INTEGER);
  return withClient(values, async (client) => {
    for (;;) {
      const answer = await page(client, target, since);
      for (const event of answer.events) out(line(event, values.json === true));
      // The next ask starts after the last change printed, or at the revision the answer reflects.
      since = answer.more ? (answer.events.at(-1)?.number('revision') ?? answer.revision) : answer.revision;
      if (answer.more) continue;
      if (values.once === true) return CLIENT_EXIT.ok;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  });
}
