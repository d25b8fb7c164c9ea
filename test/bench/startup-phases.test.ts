// Proves the footprint bench reads each agent's start-up report (bench/_startup-phases.ts): the
// "agent ready" log line gives each phase's end and the CPU time, any other line or a line that
// is not JSON gives nothing, output split mid-line across chunks is joined, a restarted agent's
// old report is forgotten, and the table shows each phase's duration (its end less the
// previous phase's end).
import { strict as assert } from 'node:assert';
import { StartupReports, parseReadyLine, phasesTable } from '../../bench/_startup-phases.js';

const READY =
  '{"level":30,"time":"2026-12-03T16:02:52.415Z","node":"n1","startupCpuMs":150.5,"bootstrapEndMs":40,' +
  '"modulesEndMs":160,"configEndMs":165,"loggerEndMs":166,"storageEndMs":176,"codecEndMs":176.5,' +
  '"logEndMs":180,"peerEndMs":186,"endpointEndMs":187,"readyEndMs":187.2,"msg":"agent ready"}';

describe('bench start-up reports', () => {
  it('reads the phases and CPU time of an "agent ready" line', () => {
    const report = parseReadyLine(READY);
    assert.ok(report !== null);
    assert.equal(report.cpuMs, 150.5);
    assert.equal(report.ends.bootstrap, 40);
    assert.equal(report.ends.modules, 160);
    assert.equal(report.ends.ready, 187.2);
  });

  it('ignores other lines, lines that are not JSON and a message that only quotes "agent ready"', () => {
    assert.equal(parseReadyLine('{"level":30,"msg":"agent started"}'), null);
    assert.equal(parseReadyLine('{"level":30,"msg":"agent re'), null);
    assert.equal(parseReadyLine('{"level":30,"msg":"x","note":"\\"agent ready\\""}'), null);
  });

  it('joins lines split across chunks, keeps the latest report per agent and forgets on request', () => {
    const reports = new StartupReports();
    reports.add('n1', '{"level":30,"msg":"raft node started"}\n' + READY.slice(0, 50));
    assert.deepEqual(reports.all(), {});
    reports.add('n1', `${READY.slice(50)}\n`);
    reports.add('n2', `${READY.replace('"readyEndMs":187.2', '"readyEndMs":300')}\n`);
    assert.equal(reports.all().n1?.ends.ready, 187.2);
    assert.equal(reports.all().n2?.ends.ready, 300);
    reports.forget('n1');
    assert.deepEqual(Object.keys(reports.all()), ['n2']);
  });

  it('tables each phase as its duration', () => {
    const report = parseReadyLine(READY);
    assert.ok(report !== null);
    const table = phasesTable({ n1: report });
    const row = (name: string): string[] =>
      (table.split('\n').find((l) => l.startsWith(name)) ?? '').trim().split(/\s{2,}/);
    assert.deepEqual(row('bootstrap'), ['bootstrap', '40']);
    assert.deepEqual(row('modules'), ['modules', '120']);
    assert.deepEqual(row('storage'), ['storage', '10']);
    assert.deepEqual(row('READY since process start'), ['READY since process start', '187.2']);
    assert.deepEqual(row('CPU time to READY'), ['CPU time to READY', '150.5']);
  });
});
