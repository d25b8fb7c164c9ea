// Proves the readiness notification of the systemd unit (Type=notify, NotifyAccess=all): a
// real agent process started with NOTIFY_SOCKET sends READY=1 (with a STATUS line) through
// systemd-notify once it serves, and STOPPING=1 when it is told to stop. A small Python
// listener stands in for systemd's notify socket (Node cannot bind AF_UNIX datagram sockets).
// Skipped, saying why, when systemd-notify or python3 is missing. Needs `npm run build`.
import { strict as assert } from 'node:assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentProcesses } from '../../../agent/cli/agent-processes.js';

const available =
  spawnSync('systemd-notify', ['--help']).status === 0 && spawnSync('python3', ['--version']).status === 0;
const LISTENER =
  'import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint("bound",flush=T' +
  'rue)\nwhile True:\n  print(repr(s.recv(4096)),flush=True)\n';

describe('sd_notify readiness', function () {
  this.timeout(60_000);
  let dir: string;
  let listener: ChildProcess | null = null;
  let cluster: AgentProcesses | null = null;
  const saved = process.env.NOTIFY_SOCKET;
  afterEach(async () => {
    await cluster?.close();
    listener?.kill();
    if (saved === undefined) delete process.env.NOTIFY_SOCKET;
    else process.env.NOTIFY_SOCKET = saved;
    rmSync(dir, { recursive: true, force: true });
  });

  it('tells systemd READY=1 once the agent serves, STOPPING=1 when it stops', async function () {
    dir = mkdtempSync(join(tmpdir(), 'coraft-notify-'));
    if (!available) this.skip(); // systemd-notify or python3 is not installed here
    const socket = join(dir, 'notify');
    const received: string[] = [];
    const child = spawn('python3', ['-c', LISTENER, socket], { stdio: ['ignore', 'pipe', 'inherit'] });
    listener = child;
    child.stdout?.on('data', (chunk: Buffer) => received.push(chunk.toString('utf8')));
    const waitFor = async (pattern: RegExp): Promise<void> => {
      const deadline = Date.now() + 30_000;
      while (!pattern.test(received.join(''))) {
        if (Date.now() > deadline) throw new Error(`never received ${String(pattern)}: ${received.join('')}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    };
    await waitFor(/bound/);
    process.env.NOTIFY_SOCKET = socket;
    cluster = await AgentProcesses.create({ nodes: 1, storage: 'memory' });
    cluster.startAll();
    await waitFor(/READY=1\\nSTATUS=node n1 serving/);
    assert.ok((await cluster.status('n1')) !== null, 'the endpoint answers once ready was sent');
    await cluster.signal('n1', 'SIGTERM');
    await waitFor(/STOPPING=1/);
  });
});
