/**
 * `coraft demo` (what `npm start` runs): a real three-node cluster on loopback — three agent
 * processes with DTLS-PSK peer links and LMDB storage, made by `cluster init` in a temporary
 * folder — and a live status table while a client writes and reads through the nodes' local
 * endpoints. After a while the leader is stopped and a new one takes over; the old one comes
 * back. Ctrl-C stops everything; the agents also exit on their own if this process dies (they
 * watch its IPC channel), so nothing is left running.
 */
import { AgentProcesses } from './agent-processes.js';
import type { AgentProcess } from './agent-processes.js';
import { intOption, parseOptions } from './args.js';
import { table } from './client-commands.js';

export async function runDemoClusterCommand(args: readonly string[]): Promise<number> {
  const { values } = parseOptions(args, { 'base-port': { type: 'string' }, 'duration-s': { type: 'string' }, help: { type: 'boolean' } });
  if (values.help === true) {
    process.stdout.write('usage: coraft demo [--base-port P] [--duration-s S]\n\nRuns three real agents on loopback (DTLS, LMDB) and shows them at work until Ctrl-C.\n');
    return 0;
  }
  const basePort = intOption(values['base-port'], 'base-port', 5700, 1024, 65000);
  const durationS = intOption(values['duration-s'], 'duration-s', 0, 0, 86_400);
  const cluster = await AgentProcesses.create({ nodes: 3, basePort, transport: 'coaps', storage: 'lmdb', requestTimeoutMs: 1500 });
  let stopping = false;
  const stop = (): void => {
    stopping = true;
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const say = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };
  say(`coraft demo: 3 agents on 127.0.0.1 ports ${basePort}-${basePort + 5}, coaps + cbor + lmdb, in ${cluster.dir}. Ctrl-C to stop.\n`);
  cluster.startAll();
  const started = Date.now();
  const counts = { writes: 0, reads: 0 };
  let phase: 'warmup' | 'killed' | 'restarted' = 'warmup';
  let victim: string | null = null;
  try {
    while (!stopping && (durationS === 0 || Date.now() - started < durationS * 1000)) {
      const statuses = await Promise.all(cluster.agents().map((a) => cluster.status(a.init.id)));
      const leader = statuses.find((s) => s?.state === 'leader') ?? null;
      const agents = cluster.agents();
      const target = agents[(counts.writes + counts.reads) % agents.length];
      if (leader !== null && target !== undefined) await writeThenRead(target, counts);
      const elapsed = Math.round((Date.now() - started) / 1000);
      if (phase === 'warmup' && elapsed >= 8 && leader !== null) {
        victim = leader.nodeId;
        await cluster.signal(victim, 'SIGKILL');
        say(`\n*** t=${elapsed}s: killed the leader ${leader.nodeId} (SIGKILL); the others elect a new one ***\n`);
        phase = 'killed';
      } else if (phase === 'killed' && elapsed >= 16 && victim !== null) {
        cluster.start(victim);
        say(`\n*** t=${elapsed}s: restarted ${victim}; it rejoins from its LMDB data ***\n`);
        phase = 'restarted';
      }
      const rows = agents.map((agent, i) => {
        const s = statuses[i] ?? null;
        return s === null ? [agent.init.id, 'down', '-', '-', '-', '-'] : [s.nodeId, s.state, String(s.term), s.leaderId ?? '-', String(s.commitIndex), String(s.lastApplied)];
      });
      say(`t=${String(elapsed).padStart(3)}s  writes ok ${counts.writes}, linearizable reads ok ${counts.reads}`);
      say(table(['NODE', 'STATE', 'TERM', 'LEADER', 'COMMIT', 'APPLIED'], rows));
      say('');
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    // A leader hands over before it exits; an agent that has not exited after 10 s is killed.
    await cluster.close();
    say('demo stopped; every agent has exited and the temporary folder is removed.');
  }
  return 0;
}

/** One write through `agent` and a linearizable read of it back. */
async function writeThenRead(agent: AgentProcess, counts: { writes: number; reads: number }): Promise<void> {
  if (agent.process === null) return;
  const key = ['kv', 'demo', String(counts.writes % 10)];
  const value = `v${counts.writes}`;
  const put = await agent.client.request({ method: 'PUT', path: key, payload: new TextEncoder().encode(value) }).catch(() => null);
  if (put !== null && put.code < 0x80) counts.writes += 1;
  const get = await agent.client.request({ method: 'GET', path: key }).catch(() => null);
  if (get !== null && get.code < 0x80 && new TextDecoder().decode(get.payload) === value) counts.reads += 1;
}
