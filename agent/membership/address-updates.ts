/**
 * Peers are bound to identities, not addresses: a member's address in the configuration is a
 * hint of where it is reached, and the leader corrects it through the log when the member
 * itself, authenticated, says it now listens elsewhere (a gateway restarted on a new DHCP
 * address or port, with only its own agent.json changed).
 *
 * This module decides whether a claim leads to a proposal: the claim must come from an
 * authenticated session of that very member (the caller checks it: the transport's identity,
 * its link key, its place in the configuration), name a well-formed address other than the
 * configured one, and arrive while no other change is in flight; and one member gets at most
 * one proposal per `intervalMs`, so a member that keeps changing its mind (or a compromised one)
 * cannot flood the log. An unauthenticated datagram never gets here.
 */
import { isMember } from '../core/configuration.js';
import type { ClusterConfiguration, NodeId } from '../../contracts/log.js';
import { samePeerAddress } from '../../transport/address-family.js';
import { parsePeerAddress } from '../../transport/rpc-routes.js';

/** Default of {@link AddressUpdates} intervalMs: one proposal per member per 2 s. */
export const ADDRESS_UPDATE_INTERVAL_MS_DEFAULT = 2000;
/** Longest address recorded, in characters (as configurationProblems allows). */
const ADDRESS_LENGTH_MAX = 255;
/** Most members whose last proposal time is remembered (a configuration holds at most 64). */
const REMEMBERED_MAX = 128;

/** What a claim leads to: the configuration to propose, or why nothing is proposed. */
export type AddressPlan =
  | { readonly kind: 'propose'; readonly next: ClusterConfiguration; readonly previous: string }
  | { readonly kind: 'skip'; readonly reason: 'same' | 'not-member' | 'joint' | 'malformed' | 'rate-limited' };

/** The leader's rate-limited decisions about members' new addresses; see the module comment. */
export class AddressUpdates {
  private readonly lastProposedMs = new Map<NodeId, number>();

  constructor(
    private readonly nowMs: () => number,
    private readonly intervalMs = ADDRESS_UPDATE_INTERVAL_MS_DEFAULT,
  ) {
    if (!Number.isInteger(intervalMs) || intervalMs < 0) throw new RangeError('intervalMs must be a natural number');
  }

  /**
   * What to do about authenticated member `id` saying it listens at `address`, under the
   * latest configuration `config`. A 'propose' plan counts toward the rate limit at once.
   */
  plan(config: ClusterConfiguration, id: NodeId, address: string): AddressPlan {
    const current = config.members.find((m) => m.id === id);
    if (!isMember(config, id)) return { kind: 'skip', reason: 'not-member' };
    // The same place in another form (::ffff:10.0.0.1 for 10.0.0.1) is no move to record.
    if (current !== undefined && samePeerAddress(current.address, address)) return { kind: 'skip', reason: 'same' };
    if (address.length > ADDRESS_LENGTH_MAX || parsePeerAddress(address) === null)
      return { kind: 'skip', reason: 'malformed' };
    // A joint configuration is left first; the member says it again on its next RPC.
    if (config.oldVoters !== null) return { kind: 'skip', reason: 'joint' };
    const now = this.nowMs();
    const last = this.lastProposedMs.get(id);
    if (last !== undefined && now - last < this.intervalMs) return { kind: 'skip', reason: 'rate-limited' };
    if (this.lastProposedMs.size >= REMEMBERED_MAX) this.lastProposedMs.clear();
    this.lastProposedMs.set(id, now);
    // The member's other fields stay as they are; only where it is reached changes.
    const members =
      current === undefined
        ? [...config.members, { id, address }]
        : config.members.map((m) => (m.id === id ? { ...m, address } : m));
    return { kind: 'propose', next: { ...config, members }, previous: current?.address ?? '' };
  }
}
