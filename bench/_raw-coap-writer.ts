/**
 * A minimal CoAP client for the bench's writes, to check that the project's EndpointClient does
 * not flatter or hurt the figures (bench/_coraft.ts uses it when the cluster's agentEnv carries
 * CORAFT_BENCH_RAW_CLIENT=1, so ab-coraft's --a-env compares the two clients on one build): one
 * plain UDP socket, a confirmable PUT /kv/<key> (what libcoap's coap-client sends for
 * `-m put coap://HOST:PORT/kv/KEY`, without a process per request), one request in flight, the
 * piggybacked answer matched by message id and token; no retransmission (loopback), no blockwise
 * transfer (the value must fit one datagram), a timeout ends the write as refused. The datagram is
 * the project's encoding (transport/coap/message.ts): what is checked is the client's exchange.
 */
import { createSocket } from 'node:dgram';
import { encodeMessage } from '../transport/coap/message.js';
import { CoapMethodCode, CoapOption, CoapType } from '../transport/coap/index.js';
import type { BenchWriter } from './_system.js';

/** Most bytes of a value the raw writer sends (one datagram, with room for the header and options). */
const RAW_VALUE_BYTES_MAX = 60_000;
const UTF8 = new TextEncoder();
const KV_SEGMENT = UTF8.encode('kv');

/** The datagram of a confirmable PUT /kv/`key` with `value`, message id `mid` and token `token` (4 bytes). */
export function rawPut(key: string, value: Uint8Array, mid: number, token: number): Uint8Array {
  const tokenBytes = new Uint8Array(4);
  new DataView(tokenBytes.buffer).setUint32(0, token >>> 0);
  return encodeMessage({
    type: CoapType.CON,
    code: CoapMethodCode.PUT,
    messageId: mid,
    token: tokenBytes,
    options: [
      { number: CoapOption.UriPath, value: KV_SEGMENT },
      { number: CoapOption.UriPath, value: UTF8.encode(key) },
    ],
    payload: value,
  });
}

/** A bench writer to `host:port` over the raw client; see the module comment. */
export function openRawWriter(host: string, port: number, value: Uint8Array, timeoutMs: number): BenchWriter {
  if (value.length > RAW_VALUE_BYTES_MAX) throw new Error(`raw CoAP writer: value of ${value.length} bytes`);
  const socket = createSocket('udp4');
  let mid = Math.floor(Math.random() * 0xffff);
  let token = Math.floor(Math.random() * 0xffffffff);
  let waiting: { mid: number; token: number; done: (ok: boolean) => void } | null = null;
  socket.on('message', (data) => {
    const w = waiting;
    if (w === null || data.length < 8 || (data[0] ?? 0) >> 4 !== 0x6) return; // ACK, version 1
    if (data.readUInt16BE(2) !== w.mid || data.readUInt32BE(4) !== w.token) return;
    const code = data[1] ?? 0;
    w.done(code >= 0x40 && code < 0x60);
  });
  return {
    put: (key) =>
      new Promise<boolean>((resolve) => {
        mid = (mid + 1) & 0xffff;
        token = (token + 1) >>> 0;
        const timer = setTimeout(() => finish(false), timeoutMs);
        const finish = (ok: boolean): void => {
          clearTimeout(timer);
          waiting = null;
          resolve(ok);
        };
        waiting = { mid, token, done: finish };
        socket.send(rawPut(key, value, mid, token), port, host, (error) => {
          if (error !== null) finish(false);
        });
      }),
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
