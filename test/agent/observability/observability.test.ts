// Proves the loggers and metrics the agent can be configured with do what an operator reads
// from them: pino writes one JSON object per line with our level names mapped and the fields
// kept; the console logger filters by level; Prometheus serves counters, gauges and
// histograms at /metrics, the whole catalog with its help text from the start, and bounds its
// series; StatsD sends datagrams to its server; the CloudWatch embedded metric format writes
// documents CloudWatch can read; and the trace writer appends the simulator's JSON Lines events.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConsoleLogger, PinoLogger } from '../../../agent/observability/loggers.js';
import * as promClient from 'prom-client';
import { METRIC_CATALOG } from '../../../contracts/metric-catalog.js';
import { PrometheusMetrics, SERIES_MAX, StatsdMetrics } from '../../../agent/observability/metrics.js';
import { EmfMetrics, RotatingFile } from '../../../agent/observability/emf-metrics.js';
import { MemoryLogger } from '../../../agent/observability/noop.js';
import { TraceWriter } from '../../../agent/observability/trace-writer.js';

function httpGet(port: number, path: string, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('observability', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'coraft-obs-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  describe('PinoLogger', () => {
    it('writes a JSON object per line, maps warning/critical to warn/fatal, keeps fields, drops lower levels', () => {
      const file = join(dir, 'log.jsonl');
      const fd = openSync(file, 'w');
      const logger = new PinoLogger({ level: 'info', base: { node: 'n1' }, fd });
      const before = Date.now();
      logger.debug('hidden');
      logger.info('became leader', { term: 3, reason: 'won election' });
      logger.warning('peer refused', { peer: 'n2' });
      logger.critical('disk failed');
      logger.flush();
      closeSync(fd);
      const lines = readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.deepEqual(
        lines.map((l) => [l.level, l.msg]),
        [
          [30, 'became leader'],
          [40, 'peer refused'],
          [60, 'disk failed'],
        ],
      );
      assert.equal(lines[0]?.term, 3);
      assert.equal(lines[0]?.reason, 'won election');
      assert.equal(lines[0]?.node, 'n1');
      const time = String(lines[0]?.time);
      assert.match(time, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/, 'ISO 8601 UTC, to the millisecond');
      assert.ok(Date.parse(time) >= before && Date.parse(time) <= Date.now(), `${time}: the time of the call`);
    });

    it('prints each field once when a call passes a base field again (the runtime passes node in every call)', () => {
      const file = join(dir, 'log.jsonl');
      const fd = openSync(file, 'w');
      const logger = new PinoLogger({ level: 'info', base: { node: 'n1' }, fd });
      logger.info('raft node started', { node: 'n1', term: 0 });
      logger.info('no node field');
      logger.info('another node', { node: 'n2' });
      logger.flush();
      closeSync(fd);
      // JSON.parse keeps the last of two equal keys, so count them in the raw text.
      const raw = readFileSync(file, 'utf8').trim().split('\n');
      assert.equal(raw.length, 3);
      assert.deepEqual(
        raw.map((line) => line.match(/"node":/g)?.length ?? 0),
        [1, 1, 1],
        raw.join('\n'),
      );
      assert.deepEqual(
        raw.map((line) => (JSON.parse(line) as Record<string, unknown>).node),
        ['n1', 'n1', 'n2'],
        'a field of the call replaces the base field',
      );
      assert.ok(
        raw.every((line) => !line.includes('"pid":') && !line.includes('"hostname":')),
        'no pid or hostname: journald records them',
      );
    });
  });

  describe('ConsoleLogger', () => {
    it('writes level, message and key=value fields, quoting values with spaces, and filters by level', () => {
      const lines: string[] = [];
      const logger = new ConsoleLogger('warning', (line) => lines.push(line));
      logger.info('dropped');
      logger.error('cannot bind', { port: 5683, reason: 'address in use' });
      assert.equal(lines.length, 1);
      assert.match(
        lines[0] ?? '',
        /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z ERROR\s+cannot bind port=5683 reason="address in use"\n$/,
      );
    });
  });

  describe('MemoryLogger', () => {
    it('keeps at most recordsMax records, the newest', () => {
      const logger = new MemoryLogger(2);
      logger.info('a');
      logger.info('b');
      logger.error('c');
      assert.deepEqual(
        logger.records.map((r) => r.message),
        ['b', 'c'],
      );
    });
  });

  describe('PrometheusMetrics', () => {
    it('serves counters with labels, gauges and histograms at /metrics and 404 elsewhere', async () => {
      const metrics = await PrometheusMetrics.create('coraft');
      await metrics.listen({ host: '127.0.0.1', port: 0 });
      try {
        metrics.increment('raft_rpc_sent_total', 2, { peer: 'n2', type: 'AppendEntriesRequest' });
        metrics.setGauge('raft_term', 7);
        metrics.observeDurationMs('raft_commit_latency_ms', 3);
        const address = metrics.address();
        assert.notEqual(address, null);
        const { status, body } = await httpGet(address?.port ?? 0, '/metrics');
        assert.equal(status, 200);
        assert.match(body, /coraft_raft_rpc_sent_total\{peer="n2",type="AppendEntriesRequest"\} 2/);
        assert.match(body, /coraft_raft_term 7/);
        assert.match(body, /coraft_raft_commit_latency_ms_bucket\{le="5"\} 1/);
        assert.equal((await httpGet(address?.port ?? 0, '/other')).status, 404);
      } finally {
        await metrics.close();
      }
    });

    it('registers the whole catalog at start: each metric with its help, series without dimensions at 0', async () => {
      const cpuAtStart = process.cpuUsage();
      const metrics = new PrometheusMetrics('coraft', promClient);
      await metrics.listen({ host: '127.0.0.1', port: 0 });
      try {
        const port = metrics.address()?.port ?? 0;
        const { body } = await httpGet(port, '/metrics');
        for (const [name, spec] of Object.entries(METRIC_CATALOG)) {
          assert.ok(body.includes(`# HELP coraft_${name} ${spec.help}\n`), `${name}: help`);
          assert.ok(body.includes(`# TYPE coraft_${name} ${spec.kind}\n`), `${name}: type`);
          if (spec.kind === 'counter' && spec.labels.length === 0)
            assert.ok(body.includes(`\ncoraft_${name} 0\n`), `${name}: reads 0 before its first event`);
        }
        for (const name of ['process_resident_memory_bytes', 'process_open_fds', 'nodejs_heap_size_used_bytes'])
          assert.match(body, new RegExp(`\\n${name} [1-9]\\d*\\n`), name);
        const cpu = Number(/\nprocess_cpu_seconds_total ([0-9.e-]+)\n/.exec(body)?.[1]);
        const used = process.cpuUsage();
        assert.ok(cpu > 0 && cpu <= (used.user + used.system) / 1e6, `the process's CPU since it started: ${cpu}`);
        assert.ok(cpu >= (cpuAtStart.user + cpuAtStart.system) / 1e6, 'CPU before the metrics were made counts too');
        assert.match(body, /\nnodejs_eventloop_lag_seconds [0-9.e-]+\n/);
        // Not prom-client's default set, whose event-loop delay histogram runs a 10 ms timer at rest.
        assert.doesNotMatch(body, /nodejs_eventloop_lag_p99_seconds/);
        assert.equal((await httpGet(port, '/metrics', 'POST')).status, 405);
      } finally {
        await metrics.close();
      }
    });

    it(`keeps at most ${SERIES_MAX} series of dimension values, and drops a dimension its metric does not have`, () => {
      const metrics = new PrometheusMetrics('coraft', promClient, { processMetrics: false });
      for (let i = 0; i < SERIES_MAX + 5; i += 1)
        metrics.increment('raft_protocol_violations_total', 1, { peer: `p${i}` });
      assert.equal(metrics.droppedSeries, 5);
      metrics.increment('raft_protocol_violations_total', 1, { peer: 'p0' });
      assert.equal(metrics.droppedSeries, 5, 'a series already kept is not a new one');
      metrics.increment('raft_proposals_total', 1, { node: 'n1' });
      assert.equal(metrics.droppedSeries, 6);
    });
  });

  describe('StatsdMetrics', () => {
    it('sends counters, gauges and timings with tags to the StatsD server, gathered into datagrams', async () => {
      const server = createSocket('udp4');
      await new Promise<void>((r) => server.bind(0, '127.0.0.1', () => r()));
      const received: string[] = [];
      let datagrams = 0;
      const got = new Promise<void>((resolve) => {
        server.on('message', (data) => {
          datagrams += 1;
          received.push(...data.toString('utf8').split('\n'));
          if (received.length >= 3) resolve();
        });
      });
      const metrics = await StatsdMetrics.create({ host: '127.0.0.1', port: server.address().port, prefix: 'coraft' });
      metrics.increment('raft_proposals_total', 1, { node: 'n1' });
      metrics.setGauge('raft_term', 4);
      metrics.observeDurationMs('storage_sync_ms', 1.5);
      await got;
      await metrics.flush();
      server.close();
      assert.ok(received.includes('coraft.raft_proposals_total:1|c|#node:n1'), received.join(' '));
      assert.ok(received.includes('coraft.raft_term:4|g'), received.join(' '));
      assert.ok(received.includes('coraft.storage_sync_ms:1.5|ms'), received.join(' '));
      assert.equal(datagrams, 1, 'the three lines share one datagram');
    });
  });

  describe('EmfMetrics', () => {
    it('writes one EMF document per series on flush, counters summed and gauges last-value', async () => {
      const lines: string[] = [];
      const metrics = new EmfMetrics(
        'coraft',
        (text) => lines.push(...text.split('\n').filter((line) => line !== '')),
        () => 1_700_000_000_000,
      );
      metrics.increment('raft_proposals_total');
      metrics.increment('raft_proposals_total', 2);
      metrics.setGauge('raft_term', 1);
      metrics.setGauge('raft_term', 5);
      metrics.observeDurationMs('raft_commit_latency_ms', 2, { node: 'n1' });
      await metrics.flush();
      const docs = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      const by = (name: string): Record<string, unknown> | undefined => docs.find((d) => name in d);
      assert.equal(by('raft_proposals_total')?.raft_proposals_total, 3);
      assert.equal(by('raft_term')?.raft_term, 5);
      const latency = by('raft_commit_latency_ms');
      assert.equal(latency?.node, 'n1');
      assert.deepEqual(latency?._aws, {
        Timestamp: 1_700_000_000_000,
        CloudWatchMetrics: [
          {
            Namespace: 'coraft',
            Dimensions: [['node']],
            Metrics: [{ Name: 'raft_commit_latency_ms', Unit: 'Milliseconds' }],
          },
        ],
      });
      lines.length = 0;
      await metrics.flush();
      assert.deepEqual(lines, [], 'a flush with nothing new writes nothing');
    });

    it('writes a gauge only when its value changed since written (an idle agent sets it each Ready)', async () => {
      const texts: string[] = [];
      const metrics = new EmfMetrics('coraft', (text) => texts.push(text));
      const written = (): string[] => texts.flatMap((text) => text.split('\n').filter((line) => line !== ''));
      metrics.setGauge('raft_commit_index', 7);
      await metrics.flush();
      metrics.setGauge('raft_commit_index', 7);
      metrics.setGauge('raft_commit_index', 7);
      await metrics.flush();
      assert.equal(written().length, 1, 'the unchanged gauge is not written again');
      metrics.setGauge('raft_commit_index', 8);
      metrics.setGauge('raft_commit_index', 7);
      await metrics.flush();
      assert.equal(written().length, 1, 'a gauge back at its written value is not written');
      metrics.setGauge('raft_commit_index', 9);
      await metrics.flush();
      assert.deepEqual(
        written().map((line): unknown => Reflect.get(JSON.parse(line) as object, 'raft_commit_index')),
        [7, 9],
      );
    });

    it('drops the lines of a failed write, says so once, and writes a gauge again once a write succeeds', async () => {
      let failing = true;
      const texts: string[] = [];
      const warnings: string[] = [];
      const metrics = new EmfMetrics(
        'coraft',
        (text) => {
          if (failing) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
          texts.push(text);
        },
        () => 0,
        (message) => warnings.push(message),
      );
      metrics.setGauge('raft_term', 3);
      metrics.increment('raft_proposals_total');
      await metrics.flush();
      metrics.setGauge('raft_term', 3);
      await metrics.flush();
      assert.equal(metrics.failedWrites, 2);
      assert.equal(warnings.length, 1, warnings.join(' | '));
      assert.match(warnings[0] ?? '', /EMF lines cannot be written.*ENOSPC/);
      failing = false;
      metrics.setGauge('raft_term', 3);
      await metrics.flush();
      assert.equal(texts.length, 1, 'the gauge never written is written now');
      assert.match(texts[0] ?? '', /"raft_term":3/);
      assert.equal(warnings.at(-1), 'metrics: EMF lines are written again');
    });

    it('rotates its file to FILE.1 past its bound, so that the two stay under twice the bound', () => {
      const file = join(dir, 'metrics.emf');
      const rotating = new RotatingFile(file, 100);
      for (let i = 0; i < 25; i += 1) rotating.write(`${'x'.repeat(19)}\n`);
      assert.ok(statSync(file).size <= 100, `${statSync(file).size}`);
      assert.equal(statSync(`${file}.1`).size, 100);
      const again = new RotatingFile(file, 100);
      again.write(`${'y'.repeat(99)}\n`);
      assert.equal(readFileSync(file, 'utf8'), `${'y'.repeat(99)}\n`, 'a file found at start counts towards the bound');
    });
  });

  describe('TraceWriter', () => {
    it("appends the simulator's leader, apply, snapshot and config events as JSON Lines", async () => {
      const file = join(dir, 'trace.jsonl');
      const trace = new TraceWriter(file, 'n1', () => 42);
      trace.onLeader(2);
      trace.onApply({ index: 5, term: 2, type: 'command', command: new TextEncoder().encode('abc') });
      trace.onSnapshotRestore({
        lastIncludedIndex: 9,
        lastIncludedTerm: 2,
        configuration: { voters: ['n1'], learners: [], oldVoters: null, members: [] },
      });
      trace.onConfiguration(6, { voters: ['n1', 'n2'], learners: [], oldVoters: ['n1'], members: [] });
      await trace.close();
      const events = readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.deepEqual(events, [
        { t: 42, type: 'leader', node: 'n1', term: 2 },
        {
          t: 42,
          type: 'apply',
          node: 'n1',
          index: 5,
          term: 2,
          digest: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
        },
        { t: 42, type: 'snapshot', node: 'n1', index: 9, term: 2 },
        { t: 42, type: 'config', node: 'n1', index: 6, voters: ['n1', 'n2'], learners: [], joint: true },
      ]);
    });
  });
});
