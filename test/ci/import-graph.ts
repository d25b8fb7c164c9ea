/**
 * The graph of relative imports between source files, type-only imports included, and the
 * import circles in it (STYLE.md §1: "no import circles, not even type-only ones"). Specifiers
 * are read by import-scan.ts; a relative `./x.js` resolves to the `./x.ts` beside it (the
 * sources are TypeScript compiled one file to one file), and bare specifiers (packages, Node.js
 * built-ins) are not part of the graph.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { moduleImports, sourceFiles } from './import-scan.js';

/** Each file and the files it imports, by absolute path; every target is a key too. */
export type ImportGraph = ReadonlyMap<string, readonly string[]>;

/** The file a relative specifier names, or null for a bare one; a `.js` that does not exist resolves to its `.ts`. */
export function resolveRelative(fromFile: string, specifier: string): string | null {
  if (!specifier.startsWith('.')) return null;
  const target = resolve(dirname(fromFile), specifier);
  if (existsSync(target)) return target;
  const asTs = target.replace(/\.js$/u, '.ts');
  return existsSync(asTs) ? asTs : target;
}

/** The import graph of every source file under `dirs`; imports of files outside them are left out. */
export function importGraph(dirs: readonly string[]): ImportGraph {
  const files = dirs.flatMap((dir) => sourceFiles(dir));
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const targets: string[] = [];
    for (const i of moduleImports(file, readFileSync(file, 'utf8'))) {
      const target = resolveRelative(file, i.specifier);
      if (target !== null && known.has(target) && !targets.includes(target)) targets.push(target);
    }
    graph.set(file, targets);
  }
  return graph;
}

/** Files that import each other in a circle: all of them (sorted), and one shortest circle through the first. */
export interface ImportCircle {
  readonly files: readonly string[];
  /** Starts and ends at `files[0]`. */
  readonly path: readonly string[];
}

/**
 * The import circles of `graph`: one per strongly connected component with more than one file
 * (or a file that imports itself), sorted by their first file. Tarjan's algorithm, iterative
 * so that a deep graph cannot overflow the stack.
 */
export function importCircles(graph: ImportGraph): ImportCircle[] {
  const circles: ImportCircle[] = [];
  for (const component of stronglyConnected(graph)) {
    const files = [...component].sort();
    const first = files[0];
    if (first === undefined) continue;
    const selfLoop = (graph.get(first) ?? []).includes(first);
    if (files.length < 2 && !selfLoop) continue;
    circles.push({ files, path: circleThrough(graph, new Set(files), first) });
  }
  return circles.sort((a, b) => (a.files[0] ?? '').localeCompare(b.files[0] ?? ''));
}

/** A shortest path from `start` back to `start` inside `members` (breadth first). */
function circleThrough(graph: ImportGraph, members: ReadonlySet<string>, start: string): string[] {
  const previous = new Map<string, string>();
  const queue = [start];
  for (let head = 0; head < queue.length; head += 1) {
    const node = queue[head] ?? start;
    for (const next of [...(graph.get(node) ?? [])].sort()) {
      if (!members.has(next)) continue;
      if (next === start) {
        const chain: string[] = [];
        for (let at: string | undefined = node; at !== undefined && at !== start; at = previous.get(at))
          chain.unshift(at);
        return [start, ...chain, start];
      }
      if (!previous.has(next)) {
        previous.set(next, node);
        queue.push(next);
      }
    }
  }
  throw new Error(`no circle through ${start} in its own component`);
}

function stronglyConnected(graph: ImportGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let counter = 0;
  for (const root of [...graph.keys()].sort()) {
    if (index.has(root)) continue;
    // Each frame is a node and the position of the next edge to follow from it.
    const frames: { node: string; edge: number }[] = [{ node: root, edge: 0 }];
    index.set(root, counter);
    low.set(root, counter);
    counter += 1;
    stack.push(root);
    onStack.add(root);
    while (frames.length > 0) {
      const frame = frames[frames.length - 1];
      if (frame === undefined) break;
      const edges = graph.get(frame.node) ?? [];
      const next = edges[frame.edge];
      if (next !== undefined) {
        frame.edge += 1;
        if (!index.has(next)) {
          index.set(next, counter);
          low.set(next, counter);
          counter += 1;
          stack.push(next);
          onStack.add(next);
          frames.push({ node: next, edge: 0 });
        } else if (onStack.has(next)) {
          low.set(frame.node, Math.min(low.get(frame.node) ?? 0, index.get(next) ?? 0));
        }
        continue;
      }
      frames.pop();
      const parent = frames[frames.length - 1];
      if (parent !== undefined) low.set(parent.node, Math.min(low.get(parent.node) ?? 0, low.get(frame.node) ?? 0));
      if (low.get(frame.node) === index.get(frame.node)) {
        const component: string[] = [];
        for (;;) {
          const member = stack.pop();
          if (member === undefined) break;
          onStack.delete(member);
          component.push(member);
          if (member === frame.node) break;
        }
        components.push(component);
      }
    }
  }
  return components;
}

/** A circle as one line of paths relative to `root`: `a.ts → b.ts → a.ts`, then every file of its component. */
export function describeCircle(root: string, circle: ImportCircle): string {
  const path = circle.path.map((file) => relative(root, file)).join(' → ');
  return (
    `${path} (${circle.files.length} ${circle.files.length === 1 ? 'file' : 'files'}:` +
    ` ${circle.files.map((file) => relative(root, file)).join(', ')})`
  );
}
