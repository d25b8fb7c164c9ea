/**
 * `coraft kv list [--prefix P] [--limit N] [--after KEY] [--stale] [--json]`: the keys under a
 * prefix, in key order, read page by page from `GET /kv?prefix=P&after=...` until the listing
 * ends or N keys were printed. A table (KEY, REVISION, VALUE) by default; `--json` prints one
 * document `{"revision":R,"items":[...],"more":bool}` (R: the store revision of the last page,
 * `more`: keys past the last printed one match too).
 */
import { intOption, parseOptions } from './args.js';
import { CLIENT_EXIT, COMMON, out, table, withClient } from './client-common.js';
import { JsonFields } from './endpoint-client.js';
import type { EndpointClient } from './endpoint-client.js';

const HELP = `usage: coraft kv list [--prefix P] [--limit N] [--after KEY] [--stale]
Lists the keys that start with P (every key by default) in key order, after KEY when given, at
most N (default: all). Values that are not UTF-8 are shown in base64 (field valueBase64).
options: --endpoint HOST:PORT, --endpoint-key FILE [--endpoint-identity ID], --json, --timeout-ms MS`;

/** Keys asked for per request: the endpoint's most. */
const PAGE_LIMIT = 1000;

/** One listed key, as the endpoint answered it. */
interface ListedItem {
  readonly key: string;
  readonly revision: number;
  readonly value?: string;
  readonly valueBase64?: string;
}

function itemOf(fields: JsonFields): ListedItem {
  const base64 = fields.nullableString('valueBase64');
  return {
    key: fields.string('key'),
    revision: fields.number('revision'),
    ...(base64 === null ? { value: fields.string('value') } : { valueBase64: base64 }),
  };
}

/** Fetches one page. */
async function page(
  client: EndpointClient,
  prefix: string,
  after: string | null,
  limit: number,
  stale: boolean,
): Promise<{ revision: number; items: ListedItem[]; more: boolean }> {
  const query = [`prefix=${prefix}`, `limit=${limit}`];
  if (after !== null) query.push(`after=${after}`);
  if (stale) query.push('stale');
  const response = await client.call({ method: 'GET', path: ['kv'], query });
  const body = JsonFields.of(JSON.parse(new TextDecoder().decode(response.payload)), 'the listing');
  return { revision: body.number('revision'), items: body.objects('items').map(itemOf), more: body.boolean('more') };
}

/** Runs `coraft kv list` with the arguments after `list`. */
export async function runKvList(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseOptions(args, {
    ...COMMON,
    prefix: { type: 'string' },
    limit: { type: 'string' },
    after: { type: 'string' },
    stale: { type: 'boolean' },
  });
  if (values.help === true || positionals.length > 0) {
    out(HELP);
    return values.help === true ? CLIENT_EXIT.ok : CLIENT_EXIT.usage;
  }
  const wanted = intOption(values.limit, 'limit', Number.MAX_SAFE_INTEGER, 1, Number.MAX_SAFE_INTEGER);
  return withClient(values, async (client) => {
    const items: ListedItem[] = [];
    let after = values.after ?? null;
    let revision = 0;
    let more = true;
    while (more && items.length < wanted) {
      const next = await page(
        client,
        values.prefix ?? '',
        after,
        Math.min(PAGE_LIMIT, wanted - items.length),
        values.stale === true,
      );
      items.push(...next.items);
      revision = next.revision;
      more = next.more;
      after = next.items.at(-1)?.key ?? after;
      if (next.items.length === 0) break;
    }
    if (values.json === true) out(JSON.stringify({ revision, items, more }));
    else
      out(
        table(
          ['KEY', 'REVISION', 'VALUE'],
          items.map((item) => [item.key, String(item.revision), item.value ?? `base64:${item.valueBase64 ?? ''}`]),
        ),
      );
    return CLIENT_EXIT.ok;
  });
}
