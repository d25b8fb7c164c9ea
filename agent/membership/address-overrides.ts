/**
 * Where this node reaches a member, when the member itself said so: a member's address in the
 * configuration is a hint, and only a leader corrects it through the log (address-updates.ts).
 * Until a leader has, a node that hears a member's authenticated RPCs advertise another address
 * (the member moved, and it leads, or no leader has recorded it yet) reaches it there: it
 * forwards writes and reads, votes and hands leadership to it at the address it listens at.
 *
 * An override is this node's own: never replicated, at most one per member (the last address the
 * member said), and only for a member of the configuration. It ends when the configuration names
 * that address for the member (a leader recorded it), names another one than it did when the
 * override was made (a leader recorded a later move), gives that address to another member, or no
 * longer lists the member; and when the member says it listens at the configured address again
 * (it moved back). The caller hands only claims whose transport authenticated the sender as that
 * very member (`coaps`, `https` with a PSK): a plain `coap` or `http` request carries no identity
 * and never moves a member.
 */
import type { ClusterMember, NodeId } from '../../contracts/log.js';
import { samePeerAddress } from '../../transport/address-family.js';
import { parsePeerAddress } from '../../transport/rpc-routes.js';

/** Longest address kept, in characters (as a recorded address: address-updates.ts). */
const ADDRESS_LENGTH_MAX = 255;

interface Override {
  /** Where the member said it listens. */
  readonly address: string;
  /** What the configuration said when the override was made. */
  readonly configured: string;
}

/** A change to the overrides, for the log: `to` null when the member is reached at its configured address again. */
export interface OverrideChange {
  readonly member: NodeId;
  readonly configured: string;
  readonly to: string | null;
}

/** This node's overrides of where it reaches members; see the module comment. */
export class AddressOverrides {
  private readonly byMember = new Map<NodeId, Override>();

  /**
   * `literalOf`: the IP literal a host name was last resolved to (null: not yet), so that a
   * member's host name and its address are one place. Addresses are compared as places
   * (samePeerAddress: 127.0.0.1:5684 is [::ffff:127.0.0.1]:5684), never as text.
   */
  constructor(private readonly literalOf: (host: string) => string | null = () => null) {}

  private same(a: string, b: string): boolean {
    return samePeerAddress(a, b, this.literalOf);
  }

  /** How many members are reached elsewhere than the configuration says. */
  get size(): number {
    return this.byMember.size;
  }

  /** The address `id` is reached at instead of its configured one, or null. */
  addressOf(id: NodeId): string | null {
    return this.byMember.get(id)?.address ?? null;
  }

  /**
   * Member `id`, authenticated as itself, says it listens at `address`; `members` are the peers
   * of the configuration in force (this node not among them). Returns the change, or null when
   * nothing changed. A non-peer makes no override; a malformed address, or one another peer is
   * reached at, makes none and ends the member's earlier one.
   */
  note(members: readonly ClusterMember[], id: NodeId, address: string): OverrideChange | null {
    const member = members.find((m) => m.id === id);
    if (member === undefined) return null;
    const previous = this.byMember.get(id);
    // What every RPC of a member says: nothing new (no parsing on this path).
    if ((previous?.address ?? member.address) === address) return null;
    // Never where another peer is reached: that would take its sessions (and its link key choice).
    const taken = members.some(
      (m) => m.id !== id && (this.same(m.address, address) || this.same(this.addressOf(m.id) ?? '', address)),
    );
    const refused = address.length > ADDRESS_LENGTH_MAX || parsePeerAddress(address) === null || taken;
    // Back at its configured address, or a claim refused: an earlier override no longer holds either.
    if (refused || this.same(member.address, address)) {
      if (previous === undefined) return null;
      this.byMember.delete(id);
      return { member: id, configured: member.address, to: null };
    }
    this.byMember.set(id, { address, configured: member.address });
    return { member: id, configured: member.address, to: address };
  }

  /**
   * A configuration came into force with these peers: drops the overrides it makes moot (see
   * the module comment) or gives another peer's address, and returns them.
   */
  settle(members: readonly ClusterMember[]): OverrideChange[] {
    const dropped: OverrideChange[] = [];
    for (const [id, override] of this.byMember) {
      const configured = members.find((m) => m.id === id)?.address ?? null;
      const taken = members.some((m) => m.id !== id && this.same(m.address, override.address));
      if (
        configured !== null &&
        this.same(configured, override.configured) &&
        !this.same(configured, override.address) &&
        !taken
      )
        continue;
      this.byMember.delete(id);
      dropped.push({ member: id, configured: configured ?? override.configured, to: null });
    }
    return dropped;
  }

  /** `members` with each overridden member's address replaced by where this node reaches it. */
  apply<M extends ClusterMember>(members: readonly M[]): M[] {
    return members.map((m) => {
      const address = this.addressOf(m.id);
      return address === null ? m : { ...m, address };
    });
  }
}
