/**
 * Real network faults for the chaos harness: each agent runs in its own network namespace with
 * its own address, joined to the others by a veth pair on a bridge in the harness's namespace
 * (which also reaches every local endpoint through it). A partition between two agents is a
 * pair of blackhole routes, one in each namespace, so neither can send to the other; healing
 * removes them. Needs root and `ip netns`; `available()` says whether the machine allows it.
 *
 * This kernel may lack the netem and prio qdiscs and iptables may be absent, so delay and
 * loss are not injected here; a flaky link is emulated by a blackhole route that comes and goes.
 */
import { execFileSync } from 'node:child_process';
import { describeError } from '../../contracts/errors.js';

/** Whether namespaces can be used here, and why not if not. */
export interface NetnsAvailability {
  readonly ok: boolean;
  readonly reason: string;
}

function ip(args: readonly string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function ipQuiet(args: readonly string[]): void {
  try {
    ip(args);
  } catch {
    // Cleaning up something already gone is fine.
  }
}

/** Checks for root and a working `ip netns` by adding and deleting a namespace. */
export function netnsAvailable(): NetnsAvailability {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return { ok: false, reason: 'not root' };
  const probe = `crprobe${process.pid % 100_000}`;
  try {
    ip(['netns', 'add', probe]);
    ip(['netns', 'del', probe]);
    return { ok: true, reason: 'root and ip netns work' };
  } catch (error) {
    return { ok: false, reason: `ip netns does not work: ${describeError(error).split('\n')[0]}` };
  }
}

/** The namespaces, bridge and addresses of one cluster. */
export class NetnsLab {
  private readonly tag: string;
  private readonly subnet: string;
  private readonly cuts = new Set<string>();

  /** `ids` are the node ids in order; the lab is not made until `create()`. */
  constructor(
    readonly ids: readonly string[],
    /** 0-255: picks the 10.231.X.0/24 subnet; different concurrent labs need different values. */
    slot: number,
  ) {
    if (!Number.isInteger(slot) || slot < 0 || slot > 255) throw new Error('netns slot: 0 to 255');
    if (ids.length > 200) throw new Error('netns: at most 200 nodes');
    this.tag = `cr${slot}`;
    this.subnet = `10.231.${slot}`;
  }

  /** The namespace of node `id`. */
  namespace(id: string): string {
    return `${this.tag}-${id}`;
  }

  /** The address of node `id` (the bridge is .1). */
  address(id: string): string {
    const i = this.ids.indexOf(id);
    if (i < 0) throw new Error(`netns: unknown node ${id}`);
    return `${this.subnet}.${10 + i}`;
  }

  private bridge(): string {
    return `${this.tag}br`;
  }

  private veth(id: string): string {
    return `${this.tag}v${this.ids.indexOf(id)}`;
  }

  /** Makes the bridge and one namespace per node (removing leftovers of the same slot first). */
  create(): void {
    this.destroy();
    ip(['link', 'add', this.bridge(), 'type', 'bridge']);
    ip(['addr', 'add', `${this.subnet}.1/24`, 'dev', this.bridge()]);
    ip(['link', 'set', this.bridge(), 'up']);
    for (const id of this.ids) {
      const ns = this.namespace(id);
      ip(['netns', 'add', ns]);
      ip(['link', 'add', this.veth(id), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      ip(['link', 'set', this.veth(id), 'master', this.bridge(), 'up']);
      ip(['-n', ns, 'addr', 'add', `${this.address(id)}/24`, 'dev', 'eth0']);
      ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    }
  }

  /** Cuts the link between `a` and `b` both ways. */
  cut(a: string, b: string): void {
    const name = [a, b].sort().join('|');
    if (this.cuts.has(name)) return;
    ip(['-n', this.namespace(a), 'route', 'add', 'blackhole', `${this.address(b)}/32`]);
    ip(['-n', this.namespace(b), 'route', 'add', 'blackhole', `${this.address(a)}/32`]);
    this.cuts.add(name);
  }

  /** Restores the link between `a` and `b`. */
  mend(a: string, b: string): void {
    const name = [a, b].sort().join('|');
    if (!this.cuts.delete(name)) return;
    ipQuiet(['-n', this.namespace(a), 'route', 'del', 'blackhole', `${this.address(b)}/32`]);
    ipQuiet(['-n', this.namespace(b), 'route', 'del', 'blackhole', `${this.address(a)}/32`]);
  }

  /** Separates `group` from every other node. */
  isolate(group: readonly string[]): void {
    for (const a of group) for (const b of this.ids) if (!group.includes(b)) this.cut(a, b);
  }

  /** Restores every link. */
  healAll(): void {
    for (const name of [...this.cuts]) {
      const [a = '', b = ''] = name.split('|');
      this.mend(a, b);
    }
  }

  /** Removes the namespaces and the bridge. */
  destroy(): void {
    this.cuts.clear();
    for (const id of this.ids) {
      ipQuiet(['link', 'del', this.veth(id)]);
      ipQuiet(['netns', 'del', this.namespace(id)]);
    }
    ipQuiet(['link', 'del', this.bridge()]);
  }
}
