/**
 * Resources by path and method: exact paths ("/raft/AppendEntries") and subtrees ("/kv/*",
 * where the handler reads the rest of the path from the request).
 */
import { assert } from '../../contracts/assert.js';
import type { CoapMethod } from './codes.js';
import type { CoapRequest, CoapResponse } from './request.js';

/** Handles one request to a resource; resolves with the response. */
export type CoapResourceHandler = (request: CoapRequest) => Promise<CoapResponse>;

/** The handler of each method a resource supports. */
export type CoapResourceMethods = Partial<Readonly<Record<CoapMethod, CoapResourceHandler>>>;

/** The outcome of looking a path up. */
export type RouteLookup =
  | { readonly kind: 'found'; readonly handler: CoapResourceHandler }
  | { readonly kind: 'no-resource' }
  | { readonly kind: 'no-method' };

/** Path segments of "/a/b" (empty segments of a leading or doubled slash dropped). */
export function pathSegments(path: string): string[] {
  return path.split('/').filter((segment) => segment.length > 0);
}

/** The resources of one server. */
export class ResourceRouter {
  private readonly exact = new Map<string, CoapResourceMethods>();
  private readonly subtrees: { readonly prefix: readonly string[]; readonly methods: CoapResourceMethods }[] = [];

  /** Adds the resource at `path`, e.g. "/raft/AppendEntries"; a trailing "/*" adds a subtree. */
  add(path: string, methods: CoapResourceMethods): void {
    const segments = pathSegments(path);
    if (segments[segments.length - 1] === '*') {
      this.subtrees.push({ prefix: segments.slice(0, -1), methods });
      // Longest prefix first, so that the most specific subtree wins.
      this.subtrees.sort((a, b) => b.prefix.length - a.prefix.length);
      return;
    }
    const key = segments.join('/');
    assert(!this.exact.has(key), `resource /${key} is added once`);
    this.exact.set(key, methods);
  }

  /** Finds the handler of `method` on `path`. */
  lookup(method: CoapMethod, path: readonly string[]): RouteLookup {
    // A segment holding "/" would make the joined key ambiguous; no resource has one.
    if (path.some((segment) => segment.includes('/'))) return { kind: 'no-resource' };
    const methods =
      this.exact.get(path.join('/')) ?? this.subtrees.find((tree) => hasPrefix(path, tree.prefix))?.methods;
    if (methods === undefined) return { kind: 'no-resource' };
    const handler = methods[method];
    return handler === undefined ? { kind: 'no-method' } : { kind: 'found', handler };
  }
}

function hasPrefix(path: readonly string[], prefix: readonly string[]): boolean {
  if (path.length < prefix.length) return false;
  return prefix.every((segment, i) => path[i] === segment);
}
