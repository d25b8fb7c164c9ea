/**
 * etcd as the reference system of the comparison benches: a 3-member cluster on loopback in a
 * temporary folder, run from Debian's etcd binary (/usr/bin/etcd, bench only, never a
 * dependency of the product) with its defaults, and written to through its v3 JSON gateway
 * (`POST /v3/kv/put`, base64 key and value) over HTTP/1.1 keep-alive, one connection per client.
 *
 * Each member runs under a small sh watchdog that prints the member's pid, then waits for its
 * stdin to close: when the bench ends, is interrupted or is killed outright, the pipe closes,
 * the watchdog stops the member and removes its data folder. Snapshot sends are the members'
 * etcd_network_snapshot_send_success counters (/metrics).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { findFreePorts } from '../agent/cli/agent-processes.js';
import { removeEach, sleep } from './_system.js';
import type { BenchSystem, BenchWriter, ProbeResult, SystemMember } from './_system.js';

/** Where the bench looks for etcd unless ETCD_BIN says otherwise. */
export const ETCD_BIN = process.env.ETCD_BIN ?? '/usr/bin/etcd';

/** Whether the etcd binary is installed. */
export function etcdInstalled(): boolean {
  return existsSync(ETCD_BIN);
}

/**
 * The largest backend etcd 3.4 accepts (8 GiB) instead of its 2 GiB default: the 64 KiB points
 * write gigabytes of revisions, and etcd would otherwise stop with "database space exceeded".
 */
const QUOTA_BACKEND_BYTES = 8 * 2 ** 30;
/** Most stderr kept per member, for the error when it does not start. */
const STDERR_KEPT_MAX = 16 * 1024;

/** The sum of every sample of metric `name` (any labels) in Prometheus text format; 0 when absent. */
export function sumPrometheus(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    const value = Number(
      rest
        .slice(rest.lastIndexOf(rest[0] === '{' ? '}' : ' ') + 1)
        .trim()
        .split(/\s+/)[0],
    );
    if (Number.isFinite(value)) sum += value;
  }
  return sum;
}

/** The answer of one HTTP request: status and body text. */
interface HttpAnswer {
  readonly status: number;
  readonly body: string;
}

function http(
  port: number,
  method: string,
  path: string,
  body: string | null,
  timeoutMs: number,
  agent: Agent | false,
): Promise<HttpAnswer> {
  return new Promise((done, fail) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent,
        timeout: timeoutMs,
        headers: body === null ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => done({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', fail);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', fail);
    req.end(body ?? undefined);
  });
}

function field(json: string, name: string): unknown {
  const value: unknown = JSON.parse(json);
  return typeof value === 'object' && value !== null ? Reflect.get(value, name) : undefined;
}

/** A uint64 field of etcd's JSON (a string, or a number), as text; '' when absent. */
function idText(v: unknown): string {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '';
}

// The watchdog: $1 the etcd binary, $2 the member's folder, the rest etcd's arguments.
const WATCHDOG =
  'trap "" INT; bin="$1"; dir="$2"; shift 2; "$bin" "$@" </dev/null & child=$!; echo "$child"; cat >/dev/null; ' +
  'kill "$child" 2>/dev/null; wait "$child"; rm -rf "$dir"';

interface EtcdMember {
  readonly id: string;
  readonly clientPort: number;
  readonly dataDir: string;
  watchdog: ChildProcess | null;
  pid: number | null;
  stderr: string;
}

/** A 3-member etcd cluster on loopback. */
export class EtcdSystem implements BenchSystem {
  readonly name = 'etcd';
  readonly snapshotSendsSource = 'etcd_network_snapshot_send_success of every member (/metrics)';
  private closed = false;

  private constructor(
    readonly dir: string,
    private readonly nodes: readonly EtcdMember[],
    private readonly args: ReadonlyMap<string, readonly string[]>,
    private readonly requestTimeoutMs: number,
  ) {}

  /** Picks ports and a temporary folder; no member runs yet. */
  static async create(requestTimeoutMs: number): Promise<EtcdSystem> {
    const base = await findFreePorts(6);
    const dir = mkdtempSync(join(tmpdir(), 'coraft-bench-etcd-'));
    const ids = ['m1', 'm2', 'm3'];
    const peer = (i: number): string => `http://127.0.0.1:${base + 2 * i + 1}`;
    const initial = ids.map((id, i) => `${id}=${peer(i)}`).join(',');
    const nodes = ids.map((id, i) => ({
      id,
      clientPort: base + 2 * i,
      dataDir: join(dir, id),
      watchdog: null,
      pid: null,
      stderr: '',
    }));
    const args = new Map(
      nodes.map((m, i) => [
        m.id,
        [
          ...['--name', m.id, '--data-dir', m.dataDir, '--logger=zap', `--quota-backend-bytes=${QUOTA_BACKEND_BYTES}`],
          ...[
            '--listen-client-urls',
            `http://127.0.0.1:${m.clientPort}`,
            '--advertise-client-urls',
            `http://127.0.0.1:${m.clientPort}`,
          ],
          ...['--listen-peer-urls', peer(i), '--initial-advertise-peer-urls', peer(i)],
          ...[
            '--initial-cluster',
            initial,
            '--initial-cluster-state',
            'new',
            '--initial-cluster-token',
            'coraft-bench',
          ],
        ],
      ]),
    );
    return new EtcdSystem(dir, nodes, args, requestTimeoutMs);
  }

  async start(): Promise<ReadonlyMap<string, number>> {
    const spawned = new Map<string, number>();
    const pids = this.nodes.map((m) => {
      spawned.set(m.id, performance.now());
      const watchdog = spawn(
        '/bin/sh',
        ['-c', WATCHDOG, 'etcd-watchdog', ETCD_BIN, m.dataDir, ...(this.args.get(m.id) ?? [])],
        { stdio: ['pipe', 'pipe', 'pipe'] },
      );
      m.watchdog = watchdog;
      watchdog.stderr.on('data', (c: Buffer) => {
        m.stderr = (m.stderr + c.toString('utf8')).slice(-STDERR_KEPT_MAX);
      });
      return new Promise<void>((done, fail) => {
        const lines = createInterface({ input: watchdog.stdout });
        lines.once('line', (line) => {
          m.pid = Number(line);
          lines.close();
          watchdog.stdout.resume();
          done();
        });
        watchdog.once('exit', () => {
          m.pid = null;
          fail(new Error(`etcd member ${m.id} exited: ${m.stderr.trim().split('\n').slice(-3).join(' | ')}`));
        });
      });
    });
    await Promise.all(pids);
    return spawned;
  }

  members(): readonly SystemMember[] {
    return this.nodes.map((m) => ({ id: m.id, pid: m.pid, dataDir: m.dataDir }));
  }

  private member(id: string): EtcdMember {
    const m = this.nodes.find((n) => n.id === id);
    if (m === undefined) throw new Error(`no etcd member ${id}`);
    return m;
  }

  private async status(
    m: EtcdMember,
    timeoutMs: number,
  ): Promise<{ memberId: string; leader: string; applied: number } | null> {
    try {
      const answer = await http(m.clientPort, 'POST', '/v3/maintenance/status', '{}', timeoutMs, false);
      if (answer.status !== 200) return null;
      const header = field(answer.body, 'header');
      const memberId: unknown =
        typeof header === 'object' && header !== null ? Reflect.get(header, 'member_id') : undefined;
      // The gateway writes uint64 fields as strings; "0" (or nothing) means no leader.
      return {
        memberId: idText(memberId),
        leader: idText(field(answer.body, 'leader')) || '0',
        applied: Number(idText(field(answer.body, 'raftAppliedIndex')) || -1),
      };
    } catch {
      // Not answering yet (starting) or gone.
      return null;
    }
  }

  async leader(boundMs: number): Promise<string> {
    const deadline = Date.now() + boundMs;
    while (Date.now() < deadline) {
      const statuses = await Promise.all(this.nodes.map((m) => this.status(m, 1_000)));
      const index = statuses.findIndex((s) => s !== null && s.leader !== '0' && s.leader === s.memberId);
      const leader = statuses[index]?.memberId;
      const agreeing = statuses.filter((s) => s !== null && s.leader === leader).length;
      const id = this.nodes[index]?.id;
      if (id !== undefined && 2 * agreeing > this.nodes.length) return id;
      await sleep(50);
    }
    throw new Error(`etcd: no leader within ${boundMs} ms`);
  }

  openWriter(id: string, value: Uint8Array): Promise<BenchWriter> {
    const port = this.member(id).clientPort;
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const valueBase64 = Buffer.from(value).toString('base64');
    const timeoutMs = this.requestTimeoutMs;
    return Promise.resolve({
      put: async (key: string): Promise<boolean> => {
        const body = `{"key":"${Buffer.from(key).toString('base64')}","value":"${valueBase64}"}`;
        const answer = await http(port, 'POST', '/v3/kv/put', body, timeoutMs, agent);
        return answer.status === 200;
      },
      close: () => {
        agent.destroy();
        return Promise.resolve();
      },
    });
  }

  removeKeys(id: string, keys: readonly string[]): Promise<void> {
    const port = this.member(id).clientPort;
    return removeEach(
      keys,
      () => new Agent({ keepAlive: true, maxSockets: 1 }),
      (agent, key) =>
        http(
          port,
          'POST',
          '/v3/kv/deleterange',
          `{"key":"${Buffer.from(key).toString('base64')}"}`,
          this.requestTimeoutMs,
          agent,
        ),
      (agent) => {
        agent.destroy();
        return Promise.resolve();
      },
    );
  }

  async probe(id: string, timeoutMs: number): Promise<ProbeResult> {
    const s = await this.status(this.member(id), timeoutMs);
    return { answered: s !== null, leaderKnown: s !== null && s.leader !== '0' };
  }

  async settle(boundMs: number): Promise<void> {
    const deadline = Date.now() + boundMs;
    let last = -1;
    while (Date.now() < deadline) {
      const applied = (await Promise.all(this.nodes.map((m) => this.status(m, 2_000)))).map((s) => s?.applied ?? -1);
      const first = applied[0] ?? -1;
      const same = first >= 0 && applied.every((a) => a === first);
      if (same && first === last) return;
      last = same ? first : -1;
      await sleep(300);
    }
  }

  async snapshotSends(): Promise<number | null> {
    let sum = 0;
    for (const m of this.nodes) {
      try {
        const answer = await http(m.clientPort, 'GET', '/metrics', null, 5_000, false);
        if (answer.status !== 200) return null;
        sum += sumPrometheus(answer.body, 'etcd_network_snapshot_send_success');
      } catch {
        // A member that does not answer cannot say: the count is unknown.
        return null;
      }
    }
    return sum;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const exits = this.nodes.map((m) => {
      const w = m.watchdog;
      if (w === null || w.exitCode !== null || w.signalCode !== null) return Promise.resolve();
      return new Promise<void>((done) => {
        const killer = setTimeout(() => {
          try {
            if (m.pid !== null) process.kill(m.pid, 'SIGKILL');
          } catch {
            // It exited meanwhile.
          }
          w.kill('SIGKILL');
        }, 15_000);
        w.once('exit', () => {
          clearTimeout(killer);
          done();
        });
        // Closing its stdin tells the watchdog to stop the member and remove its folder.
        w.stdin?.end();
      });
    });
    await Promise.all(exits);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
