/**
 * The local endpoint's socket as the latency probe sees it (bench only, CORAFT_LATENCY_PROBE):
 * every datagram that reaches the endpoint's handler marks `received` and every datagram the
 * endpoint sends marks `responded` (latency-probe.ts says which index each goes to), so that the
 * breakdown covers the request's path from the socket to the proposal and from the apply back
 * to the socket. Without a probe the endpoint is returned as it is.
 */
import type { DatagramEndpoint } from '../../transport/datagram.js';
import type { LatencyProbe } from './latency-probe.js';

/** `endpoint`, marking its traffic on `probe` when there is one. */
export function probedEndpoint(endpoint: DatagramEndpoint, probe: LatencyProbe | undefined): DatagramEndpoint {
  const markEndpoint = probe?.markEndpoint?.bind(probe);
  if (markEndpoint === undefined) return endpoint;
  const probed: DatagramEndpoint = {
    send: (data, address, port) => {
      markEndpoint('responded');
      return endpoint.send(data, address, port);
    },
    onMessage: (handler) =>
      endpoint.onMessage((data, peer) => {
        markEndpoint('received');
        handler(data, peer);
      }),
    localAddress: () => endpoint.localAddress(),
    close: () => endpoint.close(),
  };
  if (endpoint.sendParts !== undefined)
    probed.sendParts = (head, body, address, port) => {
      markEndpoint('responded');
      return endpoint.sendParts?.(head, body, address, port) ?? Promise.resolve();
    };
  if (endpoint.post !== undefined)
    probed.post = (data, address, port, onFailure) => {
      markEndpoint('responded');
      endpoint.post?.(data, address, port, onFailure);
    };
  return probed;
}
