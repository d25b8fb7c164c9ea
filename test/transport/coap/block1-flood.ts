// A Block1 flood against a CoAP server in a child process, over real UDP on loopback: many
// peers (sockets), each running several transfers (tokens and Request-Tags) of small blocks
// that never finish. The child reports its memory (after two forced collections) and what its
// block store holds, before and after the flood, so a test or a person can compare the
// process RSS with the store's configured bound.
//
// Run by hand (prints one JSON report):
//   node --expose-gc --import tsx test/transport/coap/block1-flood.ts \
//     [peers] [tags] [blocks] [blockBytes] [serverOptionsJson]
import { fork, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { CoapMethodCode, CoapOption, CoapResponseCode, CoapType, formatCode } from '../../../transport/coap/codes.js';
import type { CoapServerOptions } from '../../../transport/coap/config.js';
import { decodeMessage, encodeMessage } from '../../../transport/coap/message.js';
import { encodeBlock, option, stringOption, szxOf } from '../../../transport/coap/options.js';
import { CoapServer } from '../../../transport/coap/server.js';
import { createRealTimers } from '../../../transport/timers.js';
import { openUdpEndpoint } from '../../../transport/udp.js';

/** What the flood does. */
export interface FloodOptions {
  readonly peers: number;
  readonly tagsPerPeer: number;
  readonly blocksPerTransfer: number;
  readonly blockBytes: number;
  readonly server: Partial<CoapServerOptions>;
}

/** The child's memory and block store, after two forced collections. */
export interface FloodUsage {
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly arrayBuffersBytes: number;
  /** What the store counts against blockBytesTotalMax. */
  readonly heldBytes: number;
  /** The byte lengths of the ArrayBuffers the store's transfers really keep alive. */
  readonly bufferBytes: number;
  readonly transfers: number;
}

/** The outcome of one flood. */
export interface FloodReport {
  readonly options: FloodOptions;
  readonly baseline: FloodUsage;
  readonly after: FloodUsage;
  /** Responses by code, e.g. {"2.31": 1000, "4.13": 3}. */
  readonly codes: Readonly<Record<string, number>>;
  readonly blocksSent: number;
  readonly durationMs: number;
}

type ToChild = { readonly kind: 'report' } | { readonly kind: 'exit' };
type FromChild =
  { readonly kind: 'port'; readonly port: number } | { readonly kind: 'usage'; readonly usage: FloodUsage };

// -------------------------------------------------------------------------------------------
// The child: a server with one resource, reporting on request.
// -------------------------------------------------------------------------------------------

async function runChild(serverOptions: Partial<CoapServerOptions>): Promise<void> {
  const server = new CoapServer(
    { openEndpoint: () => openUdpEndpoint({ receiveBufferBytes: 4 * 1024 * 1024 }), timers: createRealTimers() },
    serverOptions,
  );
  server.addResource('/upload', {
    POST: (r) => Promise.resolve({ code: CoapResponseCode.Changed, payload: Buffer.from(String(r.payload.length)) }),
  });
  await server.start();
  const send = (message: FromChild): void => void process.send?.(message);
  process.on('message', (message: ToChild) => {
    if (message.kind === 'exit') {
      void server.stop().then(() => process.exit(0));
      return;
    }
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    gc?.();
    const memory = process.memoryUsage();
    const store = server.blockStats();
    send({
      kind: 'usage',
      usage: {
        rssBytes: memory.rss,
        heapUsedBytes: memory.heapUsed,
        arrayBuffersBytes: memory.arrayBuffers,
        heldBytes: store.block1HeldBytes,
        bufferBytes: store.block1BufferBytes,
        transfers: store.block1Transfers,
      },
    });
  });
  send({ kind: 'port', port: server.localAddress().port });
}

// -------------------------------------------------------------------------------------------
// The parent: the flood.
// -------------------------------------------------------------------------------------------

/** A message from the child, of one kind. */
function nextMessage<K extends FromChild['kind']>(
  child: ChildProcess,
  kind: K,
): Promise<Extract<FromChild, { kind: K }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: FromChild): void => {
      if (message.kind !== kind) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(message as Extract<FromChild, { kind: K }>);
    };
    const onExit = (code: number | null): void => reject(new Error(`flood server exited with ${String(code)}`));
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

async function usageOf(child: ChildProcess): Promise<FloodUsage> {
  const reply = nextMessage(child, 'usage');
  child.send({ kind: 'report' } satisfies ToChild);
  return (await reply).usage;
}

/** One transfer: sends its next block when the previous one is answered 2.31. */
interface Transfer {
  readonly socket: Socket;
  readonly tag: number;
  next: number;
  done: boolean;
  messageId: number;
}

function blockDatagram(options: FloodOptions, transfer: Transfer, payload: Uint8Array): Uint8Array {
  const tag = Uint8Array.from([transfer.tag >> 8, transfer.tag & 0xff]);
  return encodeMessage({
    type: CoapType.CON,
    code: CoapMethodCode.POST,
    messageId: transfer.messageId,
    token: tag,
    options: [
      stringOption(CoapOption.UriPath, 'upload'),
      option(CoapOption.Block1, encodeBlock({ num: transfer.next, more: true, szx: szxOf(options.blockBytes) })),
      option(CoapOption.RequestTag, tag),
    ],
    payload,
  });
}

async function flood(
  options: FloodOptions,
  port: number,
): Promise<{ codes: Record<string, number>; blocksSent: number }> {
  const codes: Record<string, number> = {};
  let blocksSent = 0;
  let open = options.peers * options.tagsPerPeer;
  const payload = new Uint8Array(options.blockBytes).fill(0x2a);
  const sockets: Socket[] = [];
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const send = (transfer: Transfer): void => {
    transfer.messageId = (transfer.messageId + 1) & 0xffff;
    blocksSent += 1;
    transfer.socket.send(blockDatagram(options, transfer, payload), port, '127.0.0.1');
  };
  const end = (transfer: Transfer): void => {
    if (transfer.done) return;
    transfer.done = true;
    open -= 1;
    if (open === 0) finish();
  };
  for (let p = 0; p < options.peers; p += 1) {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    sockets.push(socket);
    const transfers = new Map<number, Transfer>();
    for (let tag = 0; tag < options.tagsPerPeer; tag += 1)
      transfers.set(tag, { socket, tag, next: 0, done: false, messageId: tag * 1000 });
    socket.on('message', (data) => {
      const decoded = decodeMessage(data);
      if (!decoded.ok || decoded.message.token.length !== 2) return;
      const transfer = transfers.get((decoded.message.token[0] ?? 0) * 256 + (decoded.message.token[1] ?? 0));
      if (transfer === undefined || transfer.done || decoded.message.messageId !== transfer.messageId) return;
      const code = formatCode(decoded.message.code);
      codes[code] = (codes[code] ?? 0) + 1;
      transfer.next += 1;
      if (decoded.message.code !== CoapResponseCode.Continue || transfer.next >= options.blocksPerTransfer)
        return end(transfer);
      send(transfer);
    });
    for (const transfer of transfers.values()) send(transfer);
  }
  // A lost datagram stalls its transfer; the flood ends when every transfer ended or stalled.
  let lastSent = -1;
  const stall = setInterval(() => {
    if (blocksSent === lastSent) finish();
    lastSent = blocksSent;
  }, 2000);
  await finished;
  clearInterval(stall);
  for (const socket of sockets) socket.close();
  return { codes, blocksSent };
}

/** Starts the server child, floods it, and reports. */
export async function runFlood(options: FloodOptions): Promise<FloodReport> {
  const child = fork(fileURLToPath(import.meta.url), ['--child', JSON.stringify(options.server)], {
    execArgv: [
      '--expose-gc',
      ...(process.env.FLOOD_NODE_ARGS ?? '').split(' ').filter((a) => a !== ''),
      '--import',
      'tsx',
    ],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    const { port } = await nextMessage(child, 'port');
    const baseline = await usageOf(child);
    const started = Date.now();
    const { codes, blocksSent } = await flood(options, port);
    const durationMs = Date.now() - started;
    const after = await usageOf(child);
    return { options, baseline, after, codes, blocksSent, durationMs };
  } finally {
    child.send({ kind: 'exit' } satisfies ToChild);
    await new Promise((resolve) => {
      if (child.exitCode !== null) resolve(null);
      else child.once('exit', resolve);
    });
  }
}

const self = fileURLToPath(import.meta.url);
if (process.argv[1] === self && process.argv[2] === '--child') {
  await runChild(JSON.parse(process.argv[3] ?? '{}') as Partial<CoapServerOptions>);
} else if (process.argv[1] === self) {
  const [peers = '100', tags = '8', blocks = '200', blockBytes = '16', server = '{}'] = process.argv.slice(2);
  const report = await runFlood({
    peers: Number(peers),
    tagsPerPeer: Number(tags),
    blocksPerTransfer: Number(blocks),
    blockBytes: Number(blockBytes),
    server: JSON.parse(server) as Partial<CoapServerOptions>,
  });
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}
