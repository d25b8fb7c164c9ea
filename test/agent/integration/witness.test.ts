/**
 * Proves the witness member on real agents (coaps, cbor, wal storage, `cluster init --nodes 2
 * --witnesses 1`): the cluster keeps serving when the witness is killed (SIGKILL), and when
 * either full member is killed once the other is up to date (the survivor wins the witness's
 * vote and every earlier value reads back from it); the witness never campaigns or leads (its
 * own log says so, and every status it gives says follower); its endpoint refuses key-value
 * reads and writes with 5.01 naming the leader; and nothing in its data folder holds a value a
 * client wrote, while the full members' folders do (so the search can find one).
 * Needs `npm run build` (the agents run dist/).
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentProcesses } from '../../../agent/cli/agent-processes.js';
import { adminKeyFile } from '../../../agent/cli/cluster-init.js';
import { coraft, startCluster, waitFor } from './helpers.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const WITNESS = 'n3';

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** The files under `dir` whose bytes contain `needle`. */
function filesHolding(dir: string, needle: string): string[] {
  const bytes = Buffer.from(needle);
  return filesUnder(dir).filter((file) => readFileSync(file).includes(bytes));
}

describe('agent integration: two members and a witness', function () {
  this.timeout(240_000);
  let cluster: AgentProcesses;
  let leader: string;
  const output = new Map<string, string>();
  /** Values written so far, by key: each must read back from whoever leads. */
  const written = new Map<string, string>();
  const tag = randomBytes(6).toString('hex');

  before(async function () {
    ({ cluster, leader } = await startCluster({
      nodes: 2,
      witnesses: 1,
      storage: 'wal',
      requestTimeoutMs: 3000,
      output: (id, chunk) => output.set(id, `${output.get(id) ?? ''}${chunk}`),
    }));
  });

  after(async function () {
    await cluster?.close();
  });

  const fullMembers = (): string[] => ['n1', 'n2'];

  async function put(via: string, key: string, value: string): Promise<void> {
    const response = await cluster
      .agent(via)
      .client.request({ method: 'PUT', path: ['kv', key], payload: encoder.encode(value) });
    assert.ok(response.code < 0x80, `PUT ${key} via ${via}: ${decoder.decode(response.payload)}`);
    written.set(key, value);
  }

  async function get(via: string, key: string): Promise<string> {
    const response = await cluster.agent(via).client.request({ method: 'GET', path: ['kv', key] });
    assert.equal(response.code >> 5, 2, `GET ${key} via ${via}: ${decoder.decode(response.payload)}`);
    return decoder.decode(response.payload);
  }

  async function writeSome(via: string, count: number, prefix: string): Promise<void> {
    for (let i = 0; i < count; i += 1) await put(via, `${prefix}-${i}`, `witness-probe-${tag}-${prefix}-${i}`);
  }

  async function readAllBack(via: string): Promise<void> {
    for (const [key, value] of written) assert.equal(await get(via, key), value, `${key} via ${via}`);
  }

  /** Waits until `id` has applied everything the leader committed. */
  async function caughtUp(id: string): Promise<void> {
    const target = (await cluster.status(leader))?.commitIndex ?? Number.MAX_SAFE_INTEGER;
    await waitFor(
      `${id} caught up to ${target}`,
      async () => ((await cluster.status(id))?.lastApplied ?? -1) >= target,
    );
  }

  async function witnessIsFollower(): Promise<void> {
    const status = await cluster.status(WITNESS);
    if (status !== null) assert.equal(status.state, 'follower', 'the witness only ever follows');
  }

  it('replicates through the witness but stores no value on it, and refuses key-value requests there', async () => {
    assert.notEqual(leader, WITNESS);
    await writeSome(leader, 20, 'first');
    await caughtUp(WITNESS);
    await witnessIsFollower();
    const read = await cluster.agent(WITNESS).client.request({ method: 'GET', path: ['kv', 'first-0'] });
    assert.equal(read.code, 0xa1, 'a read on the witness is 5.01');
    assert.match(decoder.decode(read.payload), new RegExp(`witness: ${WITNESS} stores no values.*leader: n[12]`));
    const write = await cluster
      .agent(WITNESS)
      .client.request({ method: 'PUT', path: ['kv', 'nope'], payload: encoder.encode('x') });
    assert.equal(write.code, 0xa1, 'a write on the witness is 5.01');
    const value = written.get('first-7') ?? '';
    const witnessData = join(cluster.agent(WITNESS).init.dir, 'data');
    const held = filesUnder(witnessData).reduce((sum, file) => sum + statSync(file).size, 0);
    assert.ok(held > 0, 'the witness keeps its log on disk');
    assert.deepEqual(filesHolding(witnessData, value), []);
    assert.notDeepEqual(
      filesHolding(join(cluster.agent(leader).init.dir, 'data'), value),
      [],
      'the leader holds the value (the search finds one where there is one)',
    );
  });

  it('keeps serving when the witness is killed, and takes it back', async () => {
    assert.equal(await cluster.signal(WITNESS, 'SIGKILL'), null);
    await writeSome(leader, 10, 'no-witness');
    await readAllBack(leader);
    cluster.start(WITNESS);
    await caughtUp(WITNESS);
    await witnessIsFollower();
  });

  for (const which of ['the leader', 'the other full member']) {
    it(`keeps serving when ${which} is killed once the other full member is up to date`, async () => {
      const victim = which === 'the leader' ? leader : (fullMembers().find((id) => id !== leader) ?? '');
      const survivor = fullMembers().find((id) => id !== victim) ?? '';
      await writeSome(leader, 10, `before-${victim}`);
      await caughtUp(survivor);
      assert.equal(await cluster.signal(victim, 'SIGKILL'), null);
      leader = await cluster.waitForLeader(30_000, victim);
      assert.equal(leader, survivor, 'the up-to-date full member leads, with the witness vote');
      await witnessIsFollower();
      await writeSome(leader, 10, `without-${victim}`);
      await readAllBack(leader);
      cluster.start(victim);
      await caughtUp(victim);
    });
  }

  it('never campaigned on the witness', async () => {
    await witnessIsFollower();
    const log = output.get(WITNESS) ?? '';
    assert.match(log, /raft node started/);
    assert.doesNotMatch(log, /became (precandidate|candidate|leader)/);
    assert.deepEqual(filesHolding(join(cluster.agent(WITNESS).init.dir, 'data'), `witness-probe-${tag}`), []);
  });
});

describe('agent integration: members add --witness', function () {
  this.timeout(180_000);
  let cluster: AgentProcesses;
  let leader: string;

  before(async function () {
    // n3 is provisioned as a witness but starts outside the cluster (top-level "witness": true).
    ({ cluster, leader } = await startCluster({
      nodes: 2,
      witnesses: 1,
      initialMembers: 2,
      startCount: 2,
      storage: 'wal',
      requestTimeoutMs: 3000,
    }));
  });

  after(async function () {
    await cluster?.close();
  });

  it('adds a witness that votes but stores no value and shows as one in the member list', async () => {
    const value = `joiner-probe-${randomBytes(6).toString('hex')}`;
    const put = await cluster
      .agent(leader)
      .client.request({ method: 'PUT', path: ['kv', 'before'], payload: encoder.encode(value) });
    assert.ok(put.code < 0x80);
    cluster.start(WITNESS);
    const address = `127.0.0.1:${Number(cluster.agent(WITNESS).init.endpoint.split(':')[1]) - 1}`;
    const admin = ['--admin-key', adminKeyFile(cluster.dir)];
    const endpoint = cluster.agent(leader).init.endpoint;
    const add = await coraft('members', 'add', WITNESS, address, '--witness', '--endpoint', endpoint, ...admin);
    assert.equal(add.code, 0, add.stderr);
    assert.equal(add.stdout, `added ${WITNESS} (a witness)\n`);
    const list = await coraft('members', 'list', '--endpoint', endpoint);
    assert.match(list.stdout, new RegExp(`${WITNESS}\\s+\\S+\\s+voter witness`));
    const after = await cluster
      .agent(leader)
      .client.request({ method: 'PUT', path: ['kv', 'after'], payload: encoder.encode(value) });
    assert.ok(after.code < 0x80);
    const target = (await cluster.status(leader))?.commitIndex ?? Number.MAX_SAFE_INTEGER;
    await waitFor('the witness caught up', async () => ((await cluster.status(WITNESS))?.lastApplied ?? -1) >= target);
    assert.equal((await cluster.status(WITNESS))?.state, 'follower');
    assert.deepEqual(filesHolding(join(cluster.agent(WITNESS).init.dir, 'data'), value), []);
    // The witness's vote now counts: with the other full member down, the leader still commits.
    const other = ['n1', 'n2'].find((id) => id !== leader) ?? '';
    assert.equal(await cluster.signal(other, 'SIGKILL'), null);
    const alone = await cluster
      .agent(leader)
      .client.request({ method: 'PUT', path: ['kv', 'with-witness'], payload: encoder.encode('x') });
    assert.ok(alone.code < 0x80, new TextDecoder().decode(alone.payload));
  });
});
