/**
 * `coraft watch [--prefix P | KEY] [--since R] [--json] [--once] [--refresh-ms N]`: prints every
 * change to the keys under P (or to KEY, which need not exist) after revision R, one per line,
 * in revision order, then keeps following with Observe (GET /watch, RFC 7641). Each answer names
 * the revisions it covers (since, revision]; the CLI holds the last revision it has every change
 * up to (WatchFollower), so a notification lost or a gap of any kind makes it register again
 * with since = that revision: nothing is missed or printed twice. It also registers again after
 * N ms without a notification (the agent may have restarted and forgotten it, default 60,000),
 * after a notification too large for one datagram (it fetches those changes without Observe,
 * block-wise), and after the endpoint stopped answering (it retries until it answers). Every
 * PROBE_INTERVAL_MS it also asks the endpoint, without Observe and locally (`stale`), for the first
 * change after its revision: one seen there two probes in a row but never notified means the agent
 * forgot the registration (it restarted), so it registers again at once, not after N ms. Without
 * --since it starts at the current revision. `--once` prints the changes after R and ends. A
 * `since` older than the node's history window ends with exit 1 and `compacted: oldest revision N`.
 */
import { assert } from '../../contracts/assert.js';
import { NetworkError } from '../../contracts/errors.js';
import { formatCode } from '../../transport/coap/index.js';
import type { CoapClientResponse } from '../../transport/coap/index.js';
import { WatchFollower } from '../endpoint/watch-documents.js';
import { intOption, parseOptions, UsageError } from './args.js';
import { CLIENT_EXIT, COMMON, out, withClient } from './client-common.js';
import { EndpointError, JsonFields } from './endpoint-client.js';
import type { EndpointClient } from './endpoint-client.js';

const HELP = `usage: coraft watch [--prefix P | KEY] [--since R] [--json] [--once] [--refresh-ms N]
Prints each change (put or delete) to the keys under P, or to KEY, after revision R, one per
line, and keeps following (Observe) until interrupted (--once: print the changes after R and end).
options: --endpoint HOST:PORT, --endpoint-key FILE [--endpoint-identity ID], --json, --timeout-ms MS`;

/** Longest wait between two attempts to reach an endpoint that does not answer, ms. */
const RETRY_DELAY_MAX_MS = 2_000;

/**
 * How often a watch checks that the endpoint still notifies it, ms: a change the endpoint holds and did not
 * notify within one interval makes it register again (an agent that restarted forgot the registration).
 */
const PROBE_INTERVAL_MS = 2_000;

/** A watch document as the CLI reads it. */
interface WatchPage {
  readonly since: number;
  readonly revision: number;
  readonly events: readonly (JsonFields & { readonly revision: number })[];
  readonly more: boolean;
}

function pageOf(response: CoapClientResponse): WatchPage {
  const body = JsonFields.of(JSON.parse(new TextDecoder().decode(response.payload)), 'the watch answer');
  const events = body.objects('events').map((e) => Object.assign(e, { revision: e.number('revision') }));
  return { since: body.number('since'), revision: body.number('revision'), events, more: body.boolean('more') };
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

/** What one watch run needs. */
interface Watch {
  readonly client: EndpointClient;
  readonly target: string;
  readonly json: boolean;
  readonly follower: WatchFollower;
}

/** Prints what a document adds; false when it shows a gap (register again). */
function take(watch: Watch, page: WatchPage): boolean {
  const step = watch.follower.accept(page);
  if (step.kind === 'invalid') throw new EndpointError('', `the watch answer is inconsistent: ${step.reason}`);
  if (step.kind === 'events') for (const event of step.events) out(line(event, watch.json));
  return step.kind !== 'gap';
}

/** Fetches the changes after the follower's revision without Observe (Block2 carries any size), page by page. */
async function fetchPages(watch: Watch): Promise<void> {
  for (;;) {
    const query = [watch.target, `since=${watch.follower.last}`];
    const page = pageOf(await watch.client.call({ method: 'GET', path: ['watch'], query }));
    take(watch, page);
    if (!page.more) return;
  }
}

/** How an observation ended. */
type Ending =
  | { readonly kind: 'refresh' }
  | { readonly kind: 'final'; readonly response: CoapClientResponse }
  | { readonly kind: 'failed'; readonly error: unknown };

/** One Observe registration from the follower's revision, until it needs replacing. */
async function observeOnce(watch: Watch, refreshMs: number): Promise<Ending> {
  let wake: (ending: Ending) => void = () => undefined;
  const ended = new Promise<Ending>((resolve) => (wake = resolve));
  let heard = Date.now();
  const query = [watch.target, `since=${watch.follower.last}`];
  const observation = await watch.client.observe({ method: 'GET', path: ['watch'], query }, (notification, final) => {
    heard = Date.now();
    if (final) return wake({ kind: 'final', response: notification });
    try {
      if (!take(watch, pageOf(notification))) wake({ kind: 'refresh' });
    } catch (error) {
      wake({ kind: 'failed', error });
    }
  });
  if (!observation.registered) return { kind: 'final', response: observation.response };
  if (!take(watch, pageOf(observation.response))) {
    observation.cancel();
    return { kind: 'refresh' };
  }
  const silence = setInterval(
    () => {
      if (Date.now() - heard >= refreshMs) wake({ kind: 'refresh' });
    },
    Math.min(refreshMs, 1_000),
  );
  const probe = new Probe(watch, wake);
  const probing = setInterval(() => void probe.run(), PROBE_INTERVAL_MS);
  try {
    const ending = await ended;
    if (ending.kind === 'failed') throw ending.error;
    return ending;
  } finally {
    clearInterval(silence);
    clearInterval(probing);
    observation.cancel();
  }
}

/**
 * Asks the endpoint for the first change after the watch's revision (locally, one event): a change
 * that a probe saw and that was still not notified at the next probe was lost, as when the agent
 * restarted and forgot the registration; then the watch registers again. An endpoint that does not
 * answer ends the observation as a reconnect does.
 */
class Probe {
  /** The revision of a change the last probe saw after the watch's revision, or null. */
  private pending: number | null = null;
  private running = false;

  constructor(
    private readonly watch: Watch,
    private readonly wake: (ending: Ending) => void,
  ) {}

  async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const last = this.watch.follower.last;
      const query = [this.watch.target, `since=${last}`, 'limit=1', 'stale'];
      const first = pageOf(await this.watch.client.call({ method: 'GET', path: ['watch'], query })).events[0];
      if (this.pending !== null && this.watch.follower.last < this.pending) return this.wake({ kind: 'refresh' });
      this.pending = first === undefined || this.watch.follower.last >= first.revision ? null : first.revision;
    } catch (error) {
      // The observation itself reports the endpoint's refusals; one that stopped answering is a reconnect.
      if (error instanceof NetworkError) this.wake({ kind: 'failed', error });
    } finally {
      this.running = false;
    }
  }
}

/** What to do after a final answer: fetch without Observe (4.13), fail (4.04 and other 4.xx), or wait (5.xx). */
async function afterFinal(watch: Watch, response: CoapClientResponse): Promise<void> {
  const code = formatCode(response.code);
  const text = `${code} ${new TextDecoder().decode(response.payload)}`;
  if (code === '4.13') return fetchPages(watch);
  if (code.startsWith('4.')) throw new EndpointError(code, text);
  if (code.startsWith('5.')) return new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MAX_MS));
  if (code !== '2.05') throw new EndpointError(code, text);
  // A 2.05 that did not register (an endpoint without Observe on /watch): take it and ask again.
  take(watch, pageOf(response));
  await new Promise((resolve) => setTimeout(resolve, 500));
}

/** Follows the watch for ever: registers, takes notifications, registers again after any trouble. */
async function follow(watch: Watch, refreshMs: number): Promise<never> {
  let connected = false;
  let delayMs = 100;
  for (;;) {
    let ending: Ending;
    try {
      ending = await observeOnce(watch, refreshMs);
      connected = true;
      delayMs = 100;
    } catch (error) {
      // Before the first answer an endpoint that does not answer is an error; after it, a reconnect.
      if (!(error instanceof NetworkError) || !connected) throw error;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      delayMs = Math.min(delayMs * 2, RETRY_DELAY_MAX_MS);
      continue;
    }
    if (ending.kind === 'final') await afterFinal(watch, ending.response);
    assert(ending.kind !== 'failed', 'a failed observation throws');
  }
}

/** Runs `coraft watch`. */
export async function runWatch(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseOptions(
    args,
    {
      ...COMMON,
      prefix: { type: 'string' },
      since: { type: 'string' },
      once: { type: 'boolean' },
      'refresh-ms': { type: 'string' },
    },
    1,
  );
  if (values.help === true || positionals.length > 1 || (positionals.length === 1) === (values.prefix !== undefined)) {
    out(HELP);
    return values.help === true ? CLIENT_EXIT.ok : CLIENT_EXIT.usage;
  }
  const key = positionals[0];
  if (key === '') throw new UsageError('KEY must not be empty');
  const target = key === undefined ? `prefix=${values.prefix ?? ''}` : `key=${key}`;
  const refreshMs = intOption(values['refresh-ms'], 'refresh-ms', 60_000, 100, 3_600_000);
  const since = values.since === undefined ? null : intOption(values.since, 'since', 0, 0, Number.MAX_SAFE_INTEGER);
  return withClient(values, async (client) => {
    // Without --since, start at the current revision (the answer's own).
    const start = since ?? pageOf(await client.call({ method: 'GET', path: ['watch'], query: [target] })).revision;
    const watch: Watch = { client, target, json: values.json === true, follower: new WatchFollower(start) };
    if (values.once === true) {
      await fetchPages(watch);
      return CLIENT_EXIT.ok;
    }
    return follow(watch, refreshMs);
  });
}
