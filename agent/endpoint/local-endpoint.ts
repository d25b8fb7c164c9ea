/**
 * The local endpoint: CoAP on loopback (coaps with endpoint keys when configured: a key-value
 * identity and an admin identity, agent/endpoint/access.ts) through which local applications
 * and the CLI use the node. Any node accepts every request; writes, reads and administration
 * go to the leader over the peer transport. Administration requests carry a command signed
 * with the admin key (agent/trust/admin-command.ts).
 *
 *   GET  /status                      the node's view of the cluster (Observe)
 *   GET  /kv?prefix=P&limit=N&after=K list a prefix (list-resource.ts)
 *   POST /txn                         a transaction: compares, then one branch (txn-resource.ts)
 *   GET  /watch?prefix=P|key=K&since=R  the changes after R, then each change with Observe (watch-resource.ts)
 *   GET  /kv/{key}[?stale]            linearizable read; ?stale reads locally (Observe)
 *   PUT|DELETE /kv/{key}[?client=C&seq=N]  write; If-Match: compare-and-set (or -delete) on the revision
 *                                     (ETag; several: any of them; empty: the key exists, if-match.ts);
 *                                     If-None-Match: create only. 2.01 when the PUT created the
 *                                     key, 2.04 when it changed it. Without client and seq a
 *                                     write runs in the endpoint's own session (writes.ts), applied
 *                                     at most once; client ids starting with '@' are reserved for it
 *                                     (4.00); keys under ".coraft/" are the agent's own (4.03)
 *   PUT  /kv/{key}?lease=L            ... attached to lease L (deleted with it)
 *   POST /lease, POST /lease/L/keepalive, DELETE /lease/L, GET /lease/L   leases (lease-resource.ts)
 *   GET  /members                     the members
 *   POST /members, DELETE /members/{id}, PUT /members/{id}/key, POST /leader/transfer,
 *   POST /snapshot, POST /admin       a signed admin command (add, remove, rekey, transfer,
 *                                     snapshot, admin-key rotation) as the payload
 * Key-value answers carry the store revision (option Store-Revision, documents.ts).
 */
import { CoapResponseCode, CoapServer } from '../../transport/coap/index.js';
import type { CoapRequest, CoapResponse } from '../../transport/coap/index.js';
import type { CoapBodyChecks, CoapResourceMethods } from '../../transport/coap/router.js';
import type { DatagramEndpoint } from '../../transport/datagram.js';
import { decodeKvCommand, decodeKvResult, encodeKvCommand, encodeKvQuery } from '../kv/index.js';
import type { KvCommand, KvResult } from '../kv/index.js';
import { isSystemKey } from '../membership/keystore.js';
import type { Timers } from '../../contracts/clock.js';
import type { LogEntry } from '../../contracts/log.js';
import type { Metrics } from '../../contracts/metrics.js';
import type { NodeApi } from '../runtime/node-api.js';
import { resolveLocalEndpointOptions, serverOptionsOf, type LocalEndpointOptions } from './endpoint-options.js';
import { KeyNotifications } from './key-notifications.js';
import { missingObserved, Observations } from './observe.js';
import type { Registration } from './observers.js';
import {
  CONTENT_FORMAT,
  errorResponse,
  jsonResponse,
  readAnswer,
  responseForError,
  responseForKvError,
  revisionEtag,
} from './responses.js';
import { adminResources } from './admin-resources.js';
import { restricted, type EndpointAccess, type EndpointArea } from './access.js';
import { EndpointWrites, explicitSessionOf, leaseArgumentOf, leaseOf } from './writes.js';
import { keysChangedBy, leaseResources } from './lease-resource.js';
import { listHandler } from './list-resource.js';
import { txnHandler } from './txn-resource.js';
import { witnessGuarded } from './witness-guard.js';
import { WatchResource } from './watch-resource.js';
import { acceptOnly, queryArgument, storeRevisionOption } from './documents.js';
import { kvKeyOf } from './kv-key.js';
import { ImplicitSession } from './write-session.js';
import { StatusChecks } from './status-checks.js';
import { WriteLimits } from './write-limits.js';
import { chosenCommand, ifMatchCommand, ifMatchDeleteCommand, type RevisionChoice } from './if-match.js';
import { writeAnswer } from './write-answer.js';

export { DEFAULT_LOCAL_ENDPOINT_OPTIONS, resolveLocalEndpointOptions } from './endpoint-options.js';
export type { LocalEndpointOptions } from './endpoint-options.js';

/** The diagnostic of the final 5.03 every observation gets when the endpoint stops. */
const STOPPING = 'the agent is stopping: observe again, at another node or here once it is back';

/** The one place that reads the test-only switch CORAFT_UNSAFE_ACK_BEFORE_COMMIT (1: on). */
export function unsafeAckFromEnvironment(env: NodeJS.ProcessEnv): boolean {
  return env['CORAFT_UNSAFE_ACK_BEFORE_COMMIT'] === '1';
}

/** Dependencies of the local endpoint. */
export interface LocalEndpointDeps {
  readonly node: NodeApi;
  readonly timers: Timers;
  readonly openEndpoint: () => Promise<DatagramEndpoint>;
  /** The endpoint identities allowed each area; default: none (an open, loopback endpoint). */
  readonly access?: EndpointAccess;
  /** Counts refusals by a limit and Observe drops (see observe.ts and CoapServerDeps). Default: none. */
  readonly metrics?: Metrics;
  /** Drawn once per process start (e.g. 8 random bytes in hex): names this incarnation's write session. */
  readonly bootId: string;
  /** This node's lease countdowns (agent/kv/lease-keeper.ts), for GET /lease/{id}. Default: none counted. */
  readonly leases?: { remainingMs(id: number): number | null };
  /** The space fields of /status: `alarms` (e.g. ["NOSPACE"]) and the quota's figures. Default: none. */
  readonly spaceStatus?: () => Readonly<Record<string, unknown>>;
  /**
   * Hears an admin request refused before a node checked its command: not a signed command, or an identity that may
   * not use the admin resources (the node logs the commands it refuses itself). Default: none.
   */
  readonly adminRefused?: (reason: string) => void;
}

export class LocalEndpoint {
  readonly server: CoapServer;
  private readonly observations: Observations;
  private readonly options: LocalEndpointOptions;
  private readonly writes: EndpointWrites;
  private readonly watch: WatchResource;
  private readonly statusChecks: StatusChecks;
  private readonly limits: WriteLimits;
  private readonly keyNotifications: KeyNotifications;

  constructor(
    private readonly deps: LocalEndpointDeps,
    options: Partial<LocalEndpointOptions> = {},
  ) {
    this.options = resolveLocalEndpointOptions(options);
    this.server = new CoapServer(
      {
        openEndpoint: deps.openEndpoint,
        timers: deps.timers,
        name: 'endpoint',
        ...(deps.metrics === undefined ? {} : { metrics: deps.metrics }),
      },
      serverOptionsOf(this.options),
    );
    const statusHost = {
      isServing: () => this.server.isRunning() && deps.node.isRunning(),
      isObserved: () => this.observations.observed('/status'),
      status: () => this.statusBody(),
      notify: (body: unknown) =>
        this.observations.notify('/status', (seq) =>
          jsonResponse(CoapResponseCode.Content, body, seq === null ? {} : { observe: seq }),
        ),
    };
    this.statusChecks = new StatusChecks(statusHost, deps.timers, this.options.statusNotifyIntervalMs);
    this.watch = new WatchResource(deps.node, deps.timers, () => this.observations, this.options);
    const forget = (gone: Registration): void => this.watch.forget(gone);
    this.observations = new Observations(this.server, deps.timers, deps.metrics ?? null, this.options, forget);
    this.keyNotifications = new KeyNotifications(deps.timers, this.options.observersMax, (key) => this.notifyKey(key));
    const session = new ImplicitSession(
      { nodeId: deps.node.getNodeId(), bootId: deps.bootId, clock: deps.timers },
      this.options.writeSession,
    );
    const limits = (this.limits = new WriteLimits(this.options, deps.metrics ?? null));
    this.writes = new EndpointWrites(deps.node, session, {
      timeoutMs: this.options.requestTimeoutMs,
      oversize: (bytes) => limits.command(bytes),
      clock: deps.timers,
    });
    const access = deps.access ?? { kv: null, admin: null };
    const add = (path: string, area: EndpointArea, methods: CoapResourceMethods, checks: CoapBodyChecks = {}): void =>
      this.server.addResource(path, restricted(witnessGuarded(methods, area, deps.node), area, access), checks);
    add('/status', 'status', { GET: (request) => Promise.resolve(this.getStatus(request)) });
    add('/kv', 'kv', { GET: listHandler(deps.node, this.options.requestTimeoutMs) });
    add('/txn', 'kv', {
      POST: txnHandler((command, request) => this.writes.submit(command, request), this.options.keyBytesMax),
    });
    add('/watch', 'kv', { GET: this.watch.handle });
    const leases = leaseResources({
      node: deps.node,
      submit: (command, request) => this.writes.submit(command, request),
      clock: deps.timers,
      remainingMs: (id) => deps.leases?.remainingMs(id) ?? null,
      timeoutMs: this.options.requestTimeoutMs,
    });
    for (const [path, methods] of leases) add(path, 'kv', methods);
    // A value sent in blocks is refused at the block that shows it too large (write-limits.ts);
    // a /txn body's own bound is bodyBytesMax: what its values weigh shows only once it is read.
    add(
      '/kv/*',
      'kv',
      {
        GET: (request) => this.getKey(request),
        PUT: (request) => this.putKey(request),
        DELETE: (request) => this.deleteKey(request),
      },
      { PUT: limits.valueCheck },
    );
    for (const [path, methods] of adminResources(deps.node, this.options.adminTimeoutMs, access, deps.adminRefused))
      this.server.addResource(path, methods);
  }

  async start(): Promise<void> {
    await this.server.start();
  }

  async stop(): Promise<void> {
    // After a fatal error (a full disk) the node failed its pending requests: their answers go out first (1 s at most).
    if (!this.deps.node.isRunning()) await this.server.drain(1000);
    this.statusChecks.stop();
    this.keyNotifications.stop();
    // RFC 7641 §3.2: a non-2.xx notification ends an observation; the observer may observe again elsewhere.
    await this.observations.endAll(errorResponse(CoapResponseCode.ServiceUnavailable, STOPPING, 1));
    await this.server.stop();
  }

  localAddress(): { readonly address: string; readonly port: number } {
    return this.server.localAddress();
  }

  // -------------------------------------------------------------------------------------------
  // /status
  // -------------------------------------------------------------------------------------------

  /** The node's status without its configuration (the members list says it), and the space alarms. */
  private statusBody(): unknown {
    const { configuration: _configuration, ...status } = this.deps.node.getStatus();
    return { ...status, ...this.deps.spaceStatus?.() };
  }

  private getStatus(request: CoapRequest): CoapResponse {
    const refusal = acceptOnly(request, CONTENT_FORMAT.json, '/status');
    if (refusal !== null) return refusal;
    const observe = this.observations.observe('/status', request);
    if (observe !== null) this.statusChecks.observed();
    return jsonResponse(CoapResponseCode.Content, this.statusBody(), observe === null ? {} : { observe });
  }

  /** Observe registrations held (for status and tests). */
  observerCount(): number {
    return this.observations.size();
  }

  // -------------------------------------------------------------------------------------------
  // /kv/{key}
  // -------------------------------------------------------------------------------------------

  private async getKey(request: CoapRequest): Promise<CoapResponse> {
    const key =
      acceptOnly(request, CONTENT_FORMAT.octetStream, 'a value') ?? kvKeyOf(request, 'GET', this.options.keyBytesMax);
    if (typeof key !== 'string') return key;
    const query = encodeKvQuery({ op: 'get', key });
    try {
      const stale = queryArgument(request, 'stale') !== null;
      const bytes = stale
        ? this.deps.node.readLocal(query)
        : await this.deps.node.readAnywhere(query, this.options.requestTimeoutMs);
      const result = readAnswer(bytes);
      // RFC 7641 §4.1: only a 2.05 answer registers; Observe of a missing key ends at once.
      if (result.type !== 'get' || result.current === null) {
        this.observations.cancel(`/kv/${key}`, request);
        return request.observe === 0 && result.type === 'get' ? missingObserved(key) : this.valueResponse(result, null);
      }
      return this.valueResponse(result, this.observations.observe(`/kv/${key}`, request));
    } catch (error) {
      return responseForError(error);
    }
  }

  private valueResponse(result: KvResult, observe: number | null): CoapResponse {
    const extra = {
      ...(observe === null ? {} : { observe }),
      ...(result.type === 'error' ? {} : { options: [storeRevisionOption(result.storeRevision ?? 0)] }),
    };
    if (result.type === 'error') return responseForKvError(result);
    if (result.type !== 'get')
      return errorResponse(CoapResponseCode.InternalServerError, `unexpected ${result.type} result for a read`);
    if (result.current === null)
      return {
        code: CoapResponseCode.NotFound,
        payload: new TextEncoder().encode('no such key'),
        contentFormat: CONTENT_FORMAT.text,
        ...extra,
      };
    return {
      code: CoapResponseCode.Content,
      payload: result.current.value,
      contentFormat: CONTENT_FORMAT.octetStream,
      etag: revisionEtag(result.current.revision),
      ...extra,
    };
  }

  private putKey(request: CoapRequest): Promise<CoapResponse> {
    const command = this.putCommandOf(request); // not async: one promise less per write
    if ('op' in command) return this.write(command, request);
    if ('code' in command) return Promise.resolve(command);
    return this.writeChosen(command, request);
  }

  /** A PUT or DELETE with several If-Match ETags (if-match.ts). */
  private async writeChosen(choice: RevisionChoice, request: CoapRequest): Promise<CoapResponse> {
    const command = await chosenCommand(this.deps.node, choice, this.options.requestTimeoutMs);
    return 'op' in command ? this.write(command, request) : command;
  }

  /** The command of a PUT (a choice, for several If-Match ETags), or the answer that refuses it. */
  private putCommandOf(request: CoapRequest): KvCommand | RevisionChoice | CoapResponse {
    const key = kvKeyOf(request, 'PUT', this.options.keyBytesMax);
    if (typeof key !== 'string') return key;
    const tooLarge = this.limits.value(request.payload.byteLength);
    if (tooLarge !== null) return tooLarge;
    const session = explicitSessionOf(request);
    if (session !== null && 'code' in session) return session;
    const lease = leaseArgumentOf(request);
    if (typeof lease !== 'number') return lease;
    const timeMs = Math.floor(Date.now());
    const value = request.payload;
    if (request.ifMatch.length > 0)
      return ifMatchCommand(request.ifMatch, { key, value, lease: leaseOf(lease), header: { session, timeMs } });
    if (request.ifNoneMatch) return { op: 'cas', key, expectedRevision: 0, value, session, timeMs, ...leaseOf(lease) };
    return { op: 'put', key, value, returnPrevious: false, session, timeMs, ...leaseOf(lease) };
  }

  private async deleteKey(request: CoapRequest): Promise<CoapResponse> {
    const key = kvKeyOf(request, 'DELETE', this.options.keyBytesMax);
    if (typeof key !== 'string') return key;
    const session = explicitSessionOf(request);
    if (session !== null && 'code' in session) return session;
    const header = { session, timeMs: Math.floor(Date.now()) };
    if (request.ifMatch.length === 0)
      return this.write({ ...header, op: 'delete', key, returnPrevious: false }, request);
    const command = ifMatchDeleteCommand(request.ifMatch, key, header);
    if ('op' in command) return this.write(command, request);
    return 'code' in command ? command : this.writeChosen(command, request);
  }

  private async write(command: KvCommand, request: CoapRequest): Promise<CoapResponse> {
    if (this.options.unsafeAckBeforeCommit) {
      // Deliberately broken (test-only): acknowledge now, let the write happen or not later.
      void this.deps.node
        .submitAnywhere(encodeKvCommand(command), this.options.requestTimeoutMs)
        .catch(() => undefined);
      if (request.method === 'DELETE') return jsonResponse(CoapResponseCode.Deleted, { revision: 0, deleted: true });
      return jsonResponse(CoapResponseCode.Changed, { revision: 0 }, { etag: revisionEtag(0) });
    }
    const outcome = await this.writes.submit(command, request);
    return outcome.kind === 'response' ? outcome.response : writeAnswer(command, request.method, outcome.result);
  }

  /** Tells observers of the keys an applied entry wrote, on the next turn (key-notifications.ts). */
  onApply(entry: LogEntry): void {
    this.watch.feed.onApply();
    if (entry.type !== 'command' || this.observations.size() === 0) return;
    let keys: string[];
    try {
      keys = keysChangedBy(this.deps.node, decodeKvCommand(entry.command), entry.index);
    } catch {
      // A malformed command changed nothing, so no observer needs telling.
      return;
    }
    for (const key of keys) if (this.observations.observed(`/kv/${key}`)) this.keyNotifications.keyChanged(key);
  }

  /** The node restored a snapshot: watches go on from its history window; observed keys get their values. */
  readonly onSnapshotRestore = (): void => {
    this.watch.feed.onApply();
    for (const resource of this.observations.resourcesUnder('/kv/')) this.notifyKey(resource.slice('/kv/'.length));
  };

  /** Tells the observers of `key` its value (first block: RFC 7959 §2.6); a delete ends them (RFC 7641 §4.2). */
  private notifyKey(key: string): void {
    const resource = `/kv/${key}`;
    if (isSystemKey(key) || !this.observations.observed(resource)) return;
    const result = decodeKvResult(this.deps.node.readLocal(encodeKvQuery({ op: 'get', key })));
    const final = result.type !== 'get' || result.current === null;
    this.observations.notify(resource, (seq) => this.server.firstBlockOf(this.valueResponse(result, seq)), final);
  }
}
