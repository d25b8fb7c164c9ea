// The commands of the core's interaction scripts (testdata/*.txt), each turning a case into
// calls on the InteractionEnv and a printed output. The command reference:
//
//   add-nodes N [voters=(..)] [learners=(..)] [index=I] [log=(t,..)] [term=T] [prevote=B] [checkquorum=B]
//             [max-entries=K] [snapshot-chunk=B] [inflight=K] [uncommitted-bytes=B] [pending-reads=K]
//                         adds N nodes (ids continue from the last one); index=I starts them from a
//                         snapshot at 1/I, log=(t,..) from entries of those terms; voters default to
//                         the nodes added
//   tick N.. [count=K]    ticks the nodes K times (default 1)
//   campaign N            ticks N until its election timer fires (it pre-campaigns with pre-vote);
//                         N must have no Ready waiting
//   process-ready N..     hands out and handles each node's Ready: persist, send, apply, advance
//   deliver-msgs [N..] [from=X] [count=K]
//                         delivers the waiting messages to N.. (all nodes when none) from X, the first K
//   drop [N..] [from=X] [count=K]   loses them instead
//   stabilize [N..]       handles Readies and delivers messages until nothing moves
//   elapse ticks=K [N..]  K times: ticks the nodes (all when none), then stabilizes the whole
//                         cluster; prints only the events and read states of the Readies, by tick
//   partition (a,b) (c)   cuts the network between the groups (a node in none is alone); heal joins it
//   propose N text        proposes a command on N
//   propose-conf-change N add-learner=X | promote=X | remove=X | voters=(..) [learners=(..)] [old=(..)]
//   transfer-leader N to=X
//   read-index N token=K
//   compact N index=I [keep=K]   snapshots N's state machine at I and compacts its log, keeping K entries before I+1
//   restart N             crashes N and starts it from what it persisted
//   status N..            role, term, vote, indexes, configuration and (on a leader) each follower's progress
//   raft-state            one line per node: role, term, leader
//   raft-log N            the snapshot and the entries N holds
//   state-machine N       the commands N has applied
//   messages              the messages waiting on the network
import type { Argument, Case } from './datadriven.js';
import type { InteractionEnv } from './interaction-env.js';
import { describeConfig, describeEntry } from './interaction-format.js';
import { TEST_OPTIONS } from './core-cluster.js';
import { planChange } from '../../../agent/core/configuration.js';
import type { ConfigurationChange } from '../../../agent/core/configuration.js';
import type { CoreOptions, ProposeResult, RequestResult } from '../../../agent/core/raft.js';
import type { ClusterConfiguration, LogEntry, NodeId } from '../../../contracts/log.js';
import { refOf } from './snapshot-chunks.js';

const encoder = new TextEncoder();

/** Reads the arguments of one case; every argument must be read, so a typo fails the script. */
class Args {
  private readonly used = new Set<Argument>();
  constructor(private readonly c: Case) {}

  /** The bare words, in order. */
  positional(): string[] {
    const words = this.c.args.filter((a) => a.values === null);
    for (const w of words) this.used.add(w);
    return words.map((w) => w.key);
  }

  /** The values of `key=(a,b)` (or `key=a`), or undefined without one. */
  list(key: string): string[] | undefined {
    const arg = this.c.args.find((a) => a.key === key && a.values !== null);
    if (arg === undefined || arg.values === null) return undefined;
    this.used.add(arg);
    return [...arg.values];
  }

  string(key: string): string | undefined {
    const values = this.list(key);
    if (values !== undefined && values.length !== 1) throw new Error(`line ${this.c.line}: ${key} takes one value`);
    return values?.[0];
  }

  int(key: string, fallback: number): number {
    const text = this.string(key);
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value < 0)
      throw new Error(`line ${this.c.line}: ${key}=${text} is not a count`);
    return value;
  }

  bool(key: string, fallback: boolean): boolean {
    const text = this.string(key);
    if (text === undefined) return fallback;
    if (text !== 'true' && text !== 'false')
      throw new Error(`line ${this.c.line}: ${key}=${text} is not true or false`);
    return text === 'true';
  }

  /** Fails on any argument no handler read. */
  done(): void {
    const unused = this.c.args.filter((a) => !this.used.has(a));
    if (unused.length > 0)
      throw new Error(`line ${this.c.line}: ${this.c.command} does not take ${unused.map((a) => a.key).join(', ')}`);
  }
}

type Handler = (env: InteractionEnv, args: Args) => string[];

/** Runs one case on `env` and returns its output. */
export function handleCase(env: InteractionEnv, c: Case): string {
  const handler = HANDLERS[c.command];
  if (handler === undefined) throw new Error(`line ${c.line}: unknown command ${c.command}`);
  const args = new Args(c);
  const lines = handler(env, args);
  args.done();
  return lines.join('\n');
}

function one(args: Args): NodeId {
  const [id, ...rest] = args.positional();
  if (id === undefined || rest.length > 0) throw new Error('expected one node id');
  return id;
}

function ids(env: InteractionEnv, args: Args): NodeId[] {
  const list = args.positional();
  return list.length === 0 ? [...env.nodes.keys()] : list;
}

function proposed(id: NodeId, what: string, result: ProposeResult): string {
  if (result.ok) return `${id}: proposed ${what} at ${result.term}/${result.index}`;
  if (result.reason === 'not-leader') return `${id}: refused (not-leader), leader ${result.leaderHint ?? 'unknown'}`;
  return `${id}: refused (${result.reason}): ${result.message}`;
}

function requested(id: NodeId, what: string, result: RequestResult): string {
  return result.ok ? `${id}: ${what}` : `${id}: refused (${result.reason}): ${result.message}`;
}

function statusLines(env: InteractionEnv, id: NodeId): string[] {
  const node = env.node(id);
  const core = node.core;
  const vote = node.storage.hardState.votedFor ?? 'none';
  const head = `${id}: ${core.getRole()} term=${core.getTerm()} vote=${vote} leader=${core.getLeaderId() ?? 'none'}`;
  const indexes =
    `commit=${core.getCommitIndex()} applied=${core.getAppliedIndex()} last=${core.getLastIndex()} ` +
    `snapshot=${core.getSnapshotIndex()}`;
  const lines = [`${head} ${indexes} ${describeConfig(core.getConfiguration())}`];
  for (const p of core.getProgress())
    lines.push(`  ${p.id}: ${p.state} match=${p.match} next=${p.next}${p.recentActive ? ' active' : ''}`);
  const transferee = core.getTransferee();
  if (transferee !== null) lines.push(`  transferring to ${transferee}`);
  return lines;
}

function addNodes(env: InteractionEnv, args: Args): string[] {
  const [countText, ...rest] = args.positional();
  const count = Number(countText);
  if (!Number.isSafeInteger(count) || count < 1 || rest.length > 0) throw new Error('add-nodes takes a count');
  const first = env.nodes.size + 1;
  const added = Array.from({ length: count }, (_, i) => String(first + i));
  const voters = args.list('voters') ?? added;
  const bootstrap: ClusterConfiguration = {
    voters: [...voters].sort(),
    learners: (args.list('learners') ?? []).sort(),
    oldVoters: null,
    members: [],
  };
  const index = args.int('index', 0);
  const terms = (args.list('log') ?? []).map(Number);
  if (index > 0 && terms.length > 0) throw new Error('add-nodes takes index= or log=, not both');
  const entries: LogEntry[] = terms.map((term, i) => ({
    term,
    index: i + 1,
    type: 'command',
    command: encoder.encode(`${term}/${i + 1}`),
  }));
  const lastTerm = index > 0 ? 1 : (terms[terms.length - 1] ?? 0);
  const term = args.int('term', lastTerm);
  const options: Omit<CoreOptions, 'id'> = {
    ...TEST_OPTIONS,
    preVote: args.bool('prevote', TEST_OPTIONS.preVote),
    checkQuorum: args.bool('checkquorum', TEST_OPTIONS.checkQuorum),
    maxEntriesPerAppend: args.int('max-entries', TEST_OPTIONS.maxEntriesPerAppend),
    snapshotChunkBytes: args.int('snapshot-chunk', TEST_OPTIONS.snapshotChunkBytes),
    inflightCountMax: args.int('inflight', TEST_OPTIONS.inflightCountMax),
    uncommittedBytesMax: args.int('uncommitted-bytes', TEST_OPTIONS.uncommittedBytesMax),
    pendingReadsMax: args.int('pending-reads', TEST_OPTIONS.pendingReadsMax),
  };
  const data = encoder.encode('[]');
  const lines: string[] = [];
  for (const id of added) {
    const snapshot =
      index > 0 ? { lastIncludedIndex: index, lastIncludedTerm: 1, configuration: bootstrap, data } : null;
    env.addNode({ ...options, id }, { hardState: { currentTerm: term, votedFor: null }, snapshot, entries, bootstrap });
    lines.push(...statusLines(env, id));
  }
  return lines;
}

function campaign(env: InteractionEnv, args: Args): string[] {
  const id = one(args);
  const core = env.node(id).core;
  if (core.getRole() === 'leader') throw new Error(`${id} is the leader`);
  if (core.hasReady()) throw new Error(`${id} has a Ready to handle first`);
  // The timer has fired when the node has something to say (a role change, its vote requests).
  const ticksMax = env.node(id).options.electionTimeoutMaxTicks;
  let ticks = 0;
  while (!core.hasReady() && ticks < ticksMax) {
    core.tick();
    ticks += 1;
  }
  if (!core.hasReady()) return [`${id}: no election after ${ticks} ticks (not a voter)`];
  return [`${id}: election timeout after ${ticks} ticks, now ${core.getRole()} at term ${core.getTerm()}`];
}

function tick(env: InteractionEnv, args: Args): string[] {
  const count = args.int('count', 1);
  for (const id of ids(env, args)) for (let i = 0; i < count; i += 1) env.node(id).core.tick();
  return [];
}

function processReady(env: InteractionEnv, args: Args): string[] {
  const list = ids(env, args);
  const lines: string[] = [];
  for (const id of list) {
    const ready = env.processReady(id);
    if (ready === null) lines.push(`> ${id} has no Ready`);
    else lines.push(`> ${id} handling Ready`, ...ready.map((l) => `  ${l}`));
  }
  return lines;
}

function deliver(drop: boolean): Handler {
  return (env, args) => {
    const selection = {
      to: args.positional(),
      from: args.string('from') ?? null,
      count: args.int('count', Number.MAX_SAFE_INTEGER),
    };
    const lines = env.deliver(selection, drop);
    return lines.length === 0 ? ['no messages'] : lines;
  };
}

function partition(env: InteractionEnv, args: Args): string[] {
  const groups = args.positional().map((word) => {
    if (!word.startsWith('(') || !word.endsWith(')')) throw new Error(`partition takes groups like (1,2), not ${word}`);
    return word
      .slice(1, -1)
      .split(',')
      .filter((id) => id !== '');
  });
  env.partition(groups);
  return [];
}

function membershipChange(args: Args): ConfigurationChange | null {
  const learner = args.string('add-learner');
  if (learner !== undefined) return { kind: 'add-learner', id: learner, address: '' };
  const promote = args.string('promote');
  if (promote !== undefined) return { kind: 'promote', id: promote };
  const remove = args.string('remove');
  if (remove !== undefined) return { kind: 'remove', id: remove };
  return null;
}

function proposeConfChange(env: InteractionEnv, args: Args): string[] {
  const id = one(args);
  const core = env.node(id).core;
  const change = membershipChange(args);
  let next: ClusterConfiguration;
  if (change !== null) {
    const plan = planChange(core.getConfiguration(), change);
    if (!plan.ok) return [`${id}: refused by the plan: ${plan.reason}`];
    next = plan.next;
  } else {
    const old = args.list('old');
    next = {
      voters: args.list('voters') ?? [],
      learners: args.list('learners') ?? [],
      oldVoters: old ?? null,
      members: [],
    };
  }
  return [proposed(id, `config ${describeConfig(next)}`, core.proposeConfiguration(next))];
}

function compact(env: InteractionEnv, args: Args): string[] {
  const id = one(args);
  const core = env.node(id).core;
  const index = args.int('index', core.getAppliedIndex());
  const keep = args.int('keep', 0);
  if (index > core.getAppliedIndex())
    return [`${id}: refused: index ${index} is not applied (applied ${core.getAppliedIndex()})`];
  const snapshot = env.snapshotOf(id, index);
  core.compact(refOf(snapshot), index + 1 - keep);
  env.node(id).storage.snapshot = snapshot;
  return [
    `${id}: snapshot at ${snapshot.lastIncludedTerm}/${index} (${snapshot.data.byteLength} bytes), log ` +
      `from ${core.entriesBetween(0, core.getLastIndex())[0]?.index ?? index + 1}`,
  ];
}

const HANDLERS: Readonly<Record<string, Handler>> = {
  'add-nodes': addNodes,
  campaign,
  tick,
  'process-ready': processReady,
  'deliver-msgs': deliver(false),
  drop: deliver(true),
  stabilize: (env, args) => env.stabilize(ids(env, args)),
  elapse: (env, args) => {
    const ticks = args.int('ticks', 1);
    return env.elapse(ticks, ids(env, args));
  },
  partition,
  heal: (env) => {
    env.heal();
    return [];
  },
  propose: (env, args) => {
    const [id, text, ...rest] = args.positional();
    if (id === undefined || text === undefined || rest.length > 0) throw new Error('propose takes a node and a text');
    return [proposed(id, JSON.stringify(text), env.node(id).core.propose(encoder.encode(text)))];
  },
  'propose-conf-change': proposeConfChange,
  'transfer-leader': (env, args) => {
    const id = one(args);
    const to = args.string('to');
    if (to === undefined) throw new Error('transfer-leader takes to=');
    return [requested(id, `transferring leadership to ${to}`, env.node(id).core.transferLeadership(to))];
  },
  'read-index': (env, args) => {
    const id = one(args);
    const token = args.int('token', 1);
    return [requested(id, `read ${token} registered`, env.node(id).core.readIndex(token))];
  },
  compact,
  restart: (env, args) => {
    const id = one(args);
    env.restart(id);
    return [`${id}: restarted`, ...statusLines(env, id)];
  },
  status: (env, args) => ids(env, args).flatMap((id) => statusLines(env, id)),
  'raft-state': (env) =>
    [...env.nodes.values()].map(
      (n) => `${n.id}: ${n.core.getRole()} term=${n.core.getTerm()} leader=${n.core.getLeaderId() ?? 'none'}`,
    ),
  'raft-log': (env, args) => {
    const core = env.node(one(args)).core;
    const lines =
      core.getSnapshotIndex() > 0
        ? [`snapshot ${core.termAt(core.getSnapshotIndex()) ?? '?'}/${core.getSnapshotIndex()}`]
        : [];
    lines.push(...core.entriesBetween(0, core.getLastIndex()).map(describeEntry));
    return lines.length === 0 ? ['empty'] : lines;
  },
  'state-machine': (env, args) => {
    const id = one(args);
    return [`${id}: applied=${env.node(id).machine.appliedIndex} ${JSON.stringify(env.appliedCommands(id))}`];
  },
  messages: (env) => {
    const lines = env.pendingMessages();
    return lines.length === 0 ? ['no messages'] : lines;
  },
};
