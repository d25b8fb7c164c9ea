/**
 * `coraft lease grant TTL_MS | keepalive ID | revoke ID | show ID [--json]`: the leases of the
 * local endpoint (POST /lease, POST /lease/ID/keepalive, DELETE /lease/ID, GET /lease/ID). Attach
 * a key with `coraft kv put KEY VALUE --lease ID`; keep the lease alive more often than its TTL
 * (a third of it is usual), or its keys vanish within TTL + 1 s. Exit 0 done, 1 refused, 2 bad
 * usage, 3 no such lease (expired or revoked), 4 the endpoint did not answer.
 */
import { intOption, parseOptions, UsageError } from './args.js';
import { CLIENT_EXIT, COMMON, out, withClient } from './client-common.js';
import type { EndpointClient } from './endpoint-client.js';
import { EndpointError, JsonFields } from './endpoint-client.js';

const HELP = `usage: coraft lease grant TTL_MS     grant a lease; prints its id
       coraft lease keepalive ID    restart its countdown (send one more often than its TTL)
       coraft lease revoke ID       end it now: its keys are deleted at one revision
       coraft lease show ID         its TTL, the time left (by this node's countdown) and its keys
Attach a key with: coraft kv put KEY VALUE --lease ID
options: --endpoint HOST:PORT, --endpoint-key FILE [--endpoint-identity ID], --json, --timeout-ms MS`;

type Verb = 'grant' | 'keepalive' | 'revoke' | 'show';

/** The method and path of `verb` on lease (or TTL) `argument`, and the body of a grant. */
function requestOf(verb: Verb, argument: number): readonly ['GET' | 'POST' | 'DELETE', string, unknown] {
  switch (verb) {
    case 'grant':
      return ['POST', '/lease', { ttlMs: argument }];
    case 'keepalive':
      return ['POST', `/lease/${argument}/keepalive`, undefined];
    case 'revoke':
      return ['DELETE', `/lease/${argument}`, undefined];
    case 'show':
      return ['GET', `/lease/${argument}`, undefined];
  }
}

/** The readable line(s) of an answer to `verb`. */
function describe(verb: Verb, body: JsonFields): string {
  const id = body.number('id');
  switch (verb) {
    case 'grant':
      return `lease ${id} granted, TTL ${body.number('ttlMs')} ms`;
    case 'keepalive':
      return `lease ${id} kept alive for ${body.number('ttlMs')} ms`;
    case 'revoke':
      return `lease ${id} revoked; ${body.number('deletedKeys')} key(s) deleted at revision ${body.number('revision')}`;
    case 'show': {
      const keys = body.strings('keys');
      return [
        `lease ${id}: TTL ${body.number('ttlMs')} ms, ${body.number('remainingMs')} ms left, ${keys.length} key(s)`,
        ...keys.map((key) => `  ${key}`),
      ].join('\n');
    }
  }
}

async function run(client: EndpointClient, verb: Verb, argument: number, json: boolean): Promise<string> {
  const [method, path, body] = requestOf(verb, argument);
  const document = await client.json(method, path, body);
  return json ? JSON.stringify(document) : describe(verb, JsonFields.of(document, `the ${verb} answer`));
}

function verbOf(text: string | undefined): Verb {
  if (text === 'grant' || text === 'keepalive' || text === 'revoke' || text === 'show') return text;
  throw new UsageError(`lease: unknown verb ${JSON.stringify(text)}; expected grant, keepalive, revoke or show`);
}

/** Runs `coraft lease`. */
export async function runLease(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseOptions(args, COMMON, 2);
  if (values.help === true || positionals.length === 0) {
    out(HELP);
    return values.help === true ? CLIENT_EXIT.ok : CLIENT_EXIT.usage;
  }
  const verb = verbOf(positionals[0]);
  if (positionals.length !== 2)
    throw new UsageError(`lease ${verb}: ${verb === 'grant' ? 'TTL_MS' : 'ID'} is required`);
  const argument = intOption(positionals[1], verb === 'grant' ? 'TTL_MS' : 'ID', 0, 1, Number.MAX_SAFE_INTEGER);
  return withClient(values, async (client) => {
    try {
      out(await run(client, verb, argument, values.json === true));
      return CLIENT_EXIT.ok;
    } catch (error) {
      if (!(error instanceof EndpointError) || error.coapCode !== '4.04') throw error;
      process.stderr.write(`coraft: ${error.message}\n`);
      return CLIENT_EXIT.notFound;
    }
  });
}
