// Proves the resource router: property — for random sets of exact resources and subtrees
// (the root among them) and random paths (empty segments, segments holding "/", prefixes of
// the resources and strangers), lookup finds what the previous router found (a join of the
// path against the exact paths, then the longest subtree prefix): the same handler, or the
// same refusal. A segment holding "/" never matches an exact path (["raft/AppendEntries"] is not
// /raft/AppendEntries) but may be the rest of a subtree's path (/kv/* takes ["kv", "a/b"]).
// Lookups that skip the joined key (no exact path of that shape) must not miss an exact
// resource. fast-check prints the seed and path of any failure.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { COAP_METHODS, type CoapMethod } from '../../../transport/coap/codes.js';
import type { CoapResponse } from '../../../transport/coap/request.js';
import { pathSegments, ResourceRouter, type CoapResourceMethods } from '../../../transport/coap/router.js';
import { fcParams } from '../../fc-params.js';

/** The previous router's lookup, over the same resources. */
function referenceLookup(
  exact: ReadonlyMap<string, CoapResourceMethods>,
  subtrees: readonly { readonly prefix: readonly string[]; readonly methods: CoapResourceMethods }[],
  method: CoapMethod,
  path: readonly string[],
): string {
  const slashed = path.some((segment) => segment.includes('/'));
  const hasPrefix = (prefix: readonly string[]): boolean =>
    path.length >= prefix.length && prefix.every((segment, i) => path[i] === segment);
  const sorted = [...subtrees].sort((a, b) => b.prefix.length - a.prefix.length);
  const exactMethods = slashed ? undefined : exact.get(path.join('/'));
  const methods = exactMethods ?? sorted.find((tree) => hasPrefix(tree.prefix))?.methods;
  if (methods === undefined) return 'no-resource';
  const handler = methods[method];
  return handler === undefined ? 'no-method' : `found ${nameOf(handler)}`;
}

const names = new WeakMap<object, string>();
function nameOf(handler: object): string {
  return names.get(handler) ?? '?';
}

const segment = fc.constantFrom('', 'kv', 'a', 'b', 'raft', 'a/b', 'status');
const resourcePath = fc.array(fc.constantFrom('kv', 'a', 'b', 'raft', 'status'), { maxLength: 3 });

describe('ResourceRouter', () => {
  it('finds what the previous router found, for any resources and paths', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(resourcePath, fc.boolean(), fc.subarray([...COAP_METHODS], { minLength: 1 })), {
          selector: ([path, subtree]) => `${path.join('/')}${subtree ? '/*' : ''}`,
          maxLength: 6,
        }),
        fc.array(fc.tuple(fc.constantFrom(...COAP_METHODS), fc.array(segment, { maxLength: 4 })), { maxLength: 20 }),
        (resources, lookups) => {
          const router = new ResourceRouter();
          const exact = new Map<string, CoapResourceMethods>();
          const subtrees: { prefix: readonly string[]; methods: CoapResourceMethods }[] = [];
          for (const [path, subtree, methods] of resources) {
            const handlers: Partial<Record<CoapMethod, () => Promise<CoapResponse>>> = {};
            for (const method of methods) {
              const handler = (): Promise<CoapResponse> => Promise.resolve({ code: 69 });
              names.set(handler, `${method} /${path.join('/')}${subtree ? '/*' : ''}`);
              handlers[method] = handler;
            }
            router.add(`/${path.join('/')}${subtree ? '/*' : ''}`, handlers);
            if (subtree) subtrees.push({ prefix: pathSegments(path.join('/')), methods: handlers });
            else exact.set(path.join('/'), handlers);
          }
          for (const [method, path] of lookups) {
            const found = router.lookup(method, path);
            const got = found.kind === 'found' ? `found ${nameOf(found.handler)}` : found.kind;
            assert.equal(got, referenceLookup(exact, subtrees, method, path), `${method} ${JSON.stringify(path)}`);
          }
        },
      ),
      fcParams(2000, 'router finds as before'),
    );
  });

  it("finds the root resource for the path [''] as for []", () => {
    const router = new ResourceRouter();
    const root = (): Promise<CoapResponse> => Promise.resolve({ code: 69 });
    router.add('/', { GET: root });
    for (const path of [[], ['']]) {
      const found = router.lookup('GET', path);
      assert.ok(found.kind === 'found' && found.handler === root, JSON.stringify(path));
    }
    assert.equal(router.lookup('GET', ['', '']).kind, 'no-resource');
  });

  it('hands a segment holding "/" to a subtree, never to an exact path', () => {
    const router = new ResourceRouter();
    const kv = (): Promise<CoapResponse> => Promise.resolve({ code: 69 });
    router.add('/kv/*', { PUT: kv });
    router.add('/raft/AppendEntries', { POST: kv });
    const found = router.lookup('PUT', ['kv', 'a/b']);
    assert.ok(found.kind === 'found' && found.handler === kv, 'a key sent as one segment');
    assert.equal(router.lookup('POST', ['raft/AppendEntries']).kind, 'no-resource');
    assert.equal(router.lookup('PUT', ['kv/a', 'b']).kind, 'no-resource');
  });
});
