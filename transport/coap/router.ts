/**
 * Resources by path and method: exact paths ("/raft/AppendEntries") and subtrees ("/kv/*",
 * where the handler reads the rest of the path from the request, whose segments may hold "/").
 */
import { assert } from '../../contracts/assert.js';
import { COAP_METHODS, type CoapMethod } from './codes.js';
import type { CoapRequest, CoapResponse } from './request.js';

/** Handles one request to a resource; resolves with the response. */
export type CoapResourceHandler = (request: CoapRequest) => Promise<CoapResponse>;

/** The handler of each method a resource supports. */
export type CoapResourceMethods = Partial<Readonly<Record<CoapMethod, CoapResourceHandler>>>;

/** The size of a request body that comes in blocks, as far as one block tells it. */
export interface CoapBodySize {
  /** Size1 when the block announces it (and it covers the block), else the bytes up to the block's end. */
  readonly bytes: number;
  /** Whether `bytes` is the announced Size1. */
  readonly announced: boolean;
}

/**
 * A method's own limit on a body that comes in blocks (Block1, Q-Block1, pieces), checked on
 * every block before the block is kept, so that a body it refuses is refused at its first
 * block when Size1 announces it (RFC 7959 §4) and is never held whole: the refusal to answer,
 * or null to go on.
 */
export type CoapBodyCheck = (size: CoapBodySize) => CoapResponse | null;

/** The body check of each method that has one. */
export type CoapBodyChecks = Partial<Readonly<Record<CoapMethod, CoapBodyCheck>>>;

/**
 * Whether a request may use a resource at all (e.g. its authenticated identity), judged on its
 * first message before any body check or block is kept, so that a refusal of access is never
 * hidden behind a limit the request would also have passed: the refusal, or null to go on.
 */
export type CoapAdmission = (request: CoapRequest) => CoapResponse | null;

/** A handler that carries its admission check (see admitted). */
type AdmittedHandler = CoapResourceHandler & { readonly admission?: CoapAdmission };

/** `handler` with `admission` run by the server before anything else of the request (CoapAdmission). */
export function admitted(handler: CoapResourceHandler, admission: CoapAdmission): CoapResourceHandler {
  const wrapped: AdmittedHandler = Object.assign((request: CoapRequest) => handler(request), { admission });
  return wrapped;
}

/** The outcome of looking a path up. */
export type RouteLookup =
  | {
      readonly kind: 'found';
      readonly handler: CoapResourceHandler;
      readonly admission: CoapAdmission | null;
      readonly bodyCheck: CoapBodyCheck | null;
    }
  | { readonly kind: 'no-resource' }
  | { readonly kind: 'no-method' };

/** Path segments of "/a/b" (empty segments of a leading or doubled slash dropped). */
export function pathSegments(path: string): string[] {
  return path.split('/').filter((segment) => segment.length > 0);
}

const NO_RESOURCE: RouteLookup = Object.freeze({ kind: 'no-resource' });
const NO_METHOD: RouteLookup = Object.freeze({ kind: 'no-method' });

/** A resource: its handlers, and the lookup result of each (made once, not per request). */
interface Resource {
  readonly found: ReadonlyMap<CoapMethod, RouteLookup>;
}

/** The resources of one server. */
export class ResourceRouter {
  private readonly exact = new Map<string, Resource>();
  /**
   * The exact paths' first segments ('' for the root), by segment count: a path of a shape none
   * has needs no joined key. No segment holds "/", so a path and an exact path with one joined
   * key have the same segments, but for [] and [''] (shapeOf counts [''] as 0 segments).
   */
  private readonly exactShapes = new Map<number, Set<string>>();
  private readonly subtrees: { readonly prefix: readonly string[]; readonly resource: Resource }[] = [];

  /** Adds the resource at `path`, e.g. "/raft/AppendEntries"; a trailing "/*" adds a subtree. */
  add(path: string, methods: CoapResourceMethods, bodyChecks: CoapBodyChecks = {}): void {
    const segments = pathSegments(path);
    const resource = resourceOf(methods, bodyChecks);
    if (segments[segments.length - 1] === '*') {
      this.subtrees.push({ prefix: segments.slice(0, -1), resource });
      // Longest prefix first, so that the most specific subtree wins.
      this.subtrees.sort((a, b) => b.prefix.length - a.prefix.length);
      return;
    }
    const key = segments.join('/');
    assert(!this.exact.has(key), `resource /${key} is added once`);
    this.exact.set(key, resource);
    let firsts = this.exactShapes.get(segments.length);
    if (firsts === undefined) {
      firsts = new Set();
      this.exactShapes.set(segments.length, firsts);
    }
    firsts.add(segments[0] ?? '');
  }

  /** Finds the handler of `method` on `path`. */
  lookup(method: CoapMethod, path: readonly string[]): RouteLookup {
    // A segment holding "/" would make the joined key of an exact path ambiguous: it can only be
    // the rest of a subtree's path (a key sent as one percent-encoded segment, /kv/a%2Fb), which its handler reads.
    let slashed = false;
    for (const segment of path) if (segment.includes('/')) slashed = true;
    const resource = (slashed ? undefined : this.exactResource(path)) ?? this.subtreeResource(path);
    if (resource === undefined) return NO_RESOURCE;
    return resource.found.get(method) ?? NO_METHOD;
  }

  private exactResource(path: readonly string[]): Resource | undefined {
    const first = path[0] ?? '';
    const count = path.length === 1 && first === '' ? 0 : path.length;
    if (this.exactShapes.get(count)?.has(first) !== true) return undefined;
    return this.exact.get(path.join('/'));
  }

  private subtreeResource(path: readonly string[]): Resource | undefined {
    for (const tree of this.subtrees) if (hasPrefix(path, tree.prefix)) return tree.resource;
    return undefined;
  }
}

function resourceOf(methods: CoapResourceMethods, bodyChecks: CoapBodyChecks): Resource {
  const found = new Map<CoapMethod, RouteLookup>();
  for (const method of COAP_METHODS) {
    const handler: AdmittedHandler | undefined = methods[method];
    assert(handler !== undefined || bodyChecks[method] === undefined, `a body check of ${method} has its handler`);
    if (handler === undefined) continue;
    const admission = handler.admission ?? null;
    found.set(method, { kind: 'found', handler, admission, bodyCheck: bodyChecks[method] ?? null });
  }
  return { found };
}

function hasPrefix(path: readonly string[], prefix: readonly string[]): boolean {
  if (path.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i += 1) if (path[i] !== prefix[i]) return false;
  return true;
}
