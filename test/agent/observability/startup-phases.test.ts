// Proves the start-up phase record (agent/observability/startup-phases.ts): each phase keeps the
// first time it was marked, the record lists phases in start-up order whatever order they were
// marked in, durations are taken from the previous marked phase (the first from the process's
// start), and the log fields name each phase's end and the CPU time.
import { strict as assert } from 'node:assert';
import { StartupPhases, phaseDurations, startupLogFields } from '../../../agent/observability/startup-phases.js';

describe('start-up phases', () => {
  it('keeps the first mark of a phase and lists phases in start-up order', () => {
    let now = 100;
    const phases = new StartupPhases(() => now);
    phases.mark('config');
    now = 150;
    phases.mark('config');
    phases.mark('bootstrap', 40.04);
    phases.mark('ready');
    assert.deepEqual(Object.entries(phases.record()), [
      ['bootstrap', 40],
      ['config', 100],
      ['ready', 150],
    ]);
  });

  it('takes each duration from the previous marked phase', () => {
    assert.deepEqual(phaseDurations({ bootstrap: 40, modules: 160, storage: 170.5, ready: 180 }), {
      bootstrap: 40,
      modules: 120,
      storage: 10.5,
      ready: 9.5,
    });
  });

  it('logs each end as <phase>EndMs and the CPU time in ms', () => {
    assert.deepEqual(startupLogFields({ modules: 160, ready: 180 }, { user: 120_000, system: 30_050 }), {
      startupCpuMs: 150.1,
      modulesEndMs: 160,
      readyEndMs: 180,
    });
  });
});
