/**
 * `coraft demo` (what `npm start` runs): a real three-node cluster on loopback — three agent
 * processes with DTLS-PSK peer links and LMDB storage, made by `cluster init` in a temporary
 * folder — and a live status table while a client writes and reads through the nodes' local
 * endpoints. After a while the leader is stopped and a new one takes over; the old one comes
 * back. Ctrl-C stops everything; the agents also exit on their own if this process dies (they
 * watch its IPC channel), so nothing is left running.
 */
import { AgentProcesses } from './agent-processes.js';
import { intOption, parseOptions } from './args.js';
import { table } from './client-common.js';
import { DemoClient } from './demo-client.js';
import type { DemoTarget } from './demo-client.js';

/** Timeout of one endpoint request, ms: a node that does not answer costs the client at most this. */
const DEMO_REQUEST_TIMEOUT_MS = 1000;
/** Pause between two rounds (a write and a read) of the demo client, ms. */
const DEMO_ROUND_PAUSE_MS = 100;
/** How much of each agent's latest output the demo keeps, to show when the agent exits on its own, bytes. */
const OUTPUT_TAIL_BYTES = 2048;

/** The latest output of each agent, at most OUTPUT_TAIL_BYTES each. */
class OutputTails {
  private readonly tails = new Map<string, string>();

  add(id: string, chunk: string): void {
    this.tails.set(id, `${this.tails.get(id) ?? ''}${chunk}`.slice(-OUTPUT_TAIL_BYTES));
  }

  /** The agent's last lines, indented, or a note that it printed nothing. */
  of(id: string): string {
    const tail = this.tails.get(id)?.trimEnd() ?? '';
    return tail === '' ? '    (no output)' : tail.replace(/^/gmu, '    ');
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runDemoClusterCommand(args: readonly string[]): Promise<number> {
  const { values } = parseOptions(args, {
    'base-port': { type: 'string' },
    'duration-s': { type: 'string' },
    help: { type: 'boolean' },
  });
  if (values.help === true) {
    process.stdout.write(
      'usage: coraft demo [--base-port P] [--duration-s S]\n\nRuns three real agents on loopback (DTLS, LMDB) and ' +
        'shows them at work until Ctrl-C.\n',
    );
    return 0;
  }
  const basePort = intOption(values['base-port'], 'base-port', 5700, 1024, 65000);
  const tails = new OutputTails();
  const durationS = intOption(values['duration-s'], 'duration-s', 0, 0, 86_400);
  const cluster = await AgentProcesses.create({
    nodes: 3,
    basePort,
    transport: 'coaps',
    storage: 'wal',
    requestTimeoutMs: DEMO_REQUEST_TIMEOUT_MS,
    output: (id, chunk) => tails.add(id, chunk),
  });
  let stopping = false;
  const stop = (): void => {
    stopping = true;
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const say = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };
  say(
    `coraft demo: 3 agents on 127.0.0.1 ports ${basePort}-${basePort + 5}, coaps + cbor + lmdb, in ${cluster.dir}. ` +
      `Ctrl-C to stop.\n`,
  );
  cluster.startAll();
  const started = Date.now();
  const done = (): boolean => stopping || (durationS !== 0 && Date.now() - started >= durationS * 1000);
  const client = new DemoClient({ targets: () => demoTargets(cluster), nowMs: () => Date.now() });
  // The client writes on its own, so that neither the status table nor a dead node slows it down.
  const writing = (async () => {
    while (!done()) {
      await client.round();
      await sleep(DEMO_ROUND_PAUSE_MS);
    }
  })();
  try {
    await showCluster(cluster, client, { started, done, say, tails });
  } finally {
    stopping = true;
    await writing;
    // A leader hands over before it exits; an agent that has not exited after 10 s is killed.
    await cluster.close();
    say('demo stopped; every agent has exited and the temporary folder is removed.');
  }
  return 0;
}

/** The agents' endpoints as the demo client sees them: an agent without a process is down. */
function demoTargets(cluster: AgentProcesses): DemoTarget[] {
  return cluster.agents().map((agent) => ({
    id: agent.init.id,
    up: () => cluster.agent(agent.init.id).process !== null,
    request: (request) => agent.client.request(request),
  }));
}

/** What the status loop runs by. */
interface ShowContext {
  readonly started: number;
  readonly done: () => boolean;
  readonly say: (line: string) => void;
  readonly tails: OutputTails;
}

/** Says once, with its last output, that an agent the demo did not stop has exited. */
async function reportExits(
  cluster: AgentProcesses,
  stopped: string | null,
  reported: Set<string>,
  context: ShowContext,
): Promise<void> {
  for (const agent of cluster.agents()) {
    const id = agent.init.id;
    if (agent.process !== null || id === stopped || reported.has(id)) continue;
    reported.add(id);
    const code = await cluster.exited(id);
    context.say(
      `\n*** ${id} exited on its own (exit code ${code ?? 'none'}); its last output:\n${context.tails.of(id)}\n`,
    );
  }
}

/** Prints the status table every second; kills the leader after 8 s and restarts it after 16 s. */
async function showCluster(cluster: AgentProcesses, client: DemoClient, context: ShowContext): Promise<void> {
  const { started, done, say } = context;
  let phase: 'warmup' | 'killed' | 'restarted' = 'warmup';
  let victim: string | null = null;
  const reported = new Set<string>();
  while (!done()) {
    await reportExits(cluster, phase === 'killed' ? victim : null, reported, context);
    const agents = cluster.agents();
    const statuses = await Promise.all(agents.map((a) => cluster.status(a.init.id)));
    const leader = statuses.find((s) => s?.state === 'leader') ?? null;
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
      return s === null
        ? [agent.init.id, 'down', '-', '-', '-', '-']
        : [s.nodeId, s.state, String(s.term), s.leaderId ?? '-', String(s.commitIndex), String(s.lastApplied)];
    });
    say(`t=${String(elapsed).padStart(3)}s  writes ok ${client.writes}, linearizable reads ok ${client.reads}`);
    say(table(['NODE', 'STATE', 'TERM', 'LEADER', 'COMMIT', 'APPLIED'], rows));
    say('');
    await sleep(1000);
  }
}
