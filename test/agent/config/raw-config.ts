// The smallest agent.json object a config test starts from: one member, plain coap, memory storage.

/** A one-member agent.json as parsed JSON, with `extra` fields over it. */
export const rawAgentConfig = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  nodeId: 'n1',
  dataDir: 'data',
  listen: { peer: '127.0.0.1:7000', endpoint: '127.0.0.1:7001' },
  members: [{ id: 'n1', address: '127.0.0.1:7000' }],
  transport: 'coap',
  storage: 'memory',
  ...extra,
});
