/**
 * Running signed administration commands (agent/trust/admin-command.ts, SECURITY.md). Any node
 * accepts one and forwards it to the leader as a ClientForward of kind `admin`; the leader
 * checks it before proposing anything (signature, cluster, expiry, nonce: a clear, early
 * refusal), then:
 *
 * - add-member, remove-member, rekey-member and set-admin-key are proposed as admin entries;
 *   every node verifies them again at apply (agent/trust/trusted-state-machine.ts), so a
 *   command the leader should not have proposed changes nothing anywhere. Once the entry
 *   applied, the leader drives the configuration change it authorizes (add, remove);
 * - transfer-leadership and snapshot are not log entries: the node that acts verifies them,
 *   and a bounded local cache of recent nonces refuses their replay. So is backup, which the
 *   node it names runs itself (agent/backup/backup-service.ts).
 *
 * Nothing here trusts who forwarded the command: the signature is the authority.
 */
import type { KeyObject } from 'node:crypto';
import { allMembers, isMember, isVoter, isWitness, memberReachedAt } from '../core/configuration.js';
import {
  ForbiddenError,
  MembershipError,
  NotLeaderError,
  ProposalError,
  SerializationError,
} from '../../contracts/errors.js';
import type { ClusterConfiguration, LogIndex, NodeId } from '../../contracts/log.js';
import {
  admissionProblem,
  decodeSignedAdmin,
  isLoggedOperation,
  type AdminBody,
  type SignedAdminCommand,
} from '../trust/admin-command.js';
import { decodeAdminApplyResult, encodeAdminEntry } from '../trust/trust-codec.js';
import type { DiagnosticLogger } from '../../contracts/logger.js';
import { RefusalLog } from '../membership/refusal-log.js';

/** The result of an administration command. */
export interface AdminResult {
  /** The leader after the command (for a transfer: the new leader). */
  readonly leader: NodeId | null;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Encodes an admin result (the answer a forwarded admin command returns). */
function encodeAdminResult(result: AdminResult): Uint8Array {
  return encoder.encode(JSON.stringify(result));
}

/** Decodes an admin result; throws SerializationError. */
export function decodeAdminResult(bytes: Uint8Array): AdminResult {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch (error) {
    throw new SerializationError('CODEC_MALFORMED', 'admin result is not JSON', { cause: error });
  }
  const leader: unknown = typeof value === 'object' && value !== null ? Reflect.get(value, 'leader') : undefined;
  if (leader !== null && typeof leader !== 'string')
    throw new SerializationError('CODEC_MALFORMED', 'admin result: leader must be a node id or null');
  return { leader };
}

/** What verifying needs: the cluster and the replicated admin key and nonces. */
export interface AdminAuthority {
  readonly cluster: string;
  /** The admin key in force (replicated rotation, else the genesis key); null: admin disabled. */
  adminKey(): KeyObject | null;
  /** True when an applied, unexpired command used `nonce`. */
  nonceSeen(nonce: string): boolean;
}

/** What running commands needs of the node. */
export interface AdminHost {
  getNodeId(): NodeId;
  getLeaderId(): NodeId | null;
  getConfiguration(): ClusterConfiguration;
  submitCommand(command: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  addServer(id: NodeId, address: string, options: { learner: boolean; witness: boolean }): Promise<boolean>;
  removeServer(id: NodeId): Promise<boolean>;
  transferLeadership(to: NodeId | null, timeoutMs: number): Promise<NodeId>;
  snapshotNow(): Promise<LogIndex>;
  /** Who the peer transport finds at `address`, as it compares addresses (NetworkClient.reachedAt). */
  reachedAt(address: string): Promise<{ readonly self: true } | { readonly peer: NodeId } | null>;
}

/** The role a member has, as an operator reads it. */
function roleOf(config: ClusterConfiguration, id: NodeId): string {
  if (isWitness(config, id)) return 'witness';
  return isVoter(config, id) ? 'voter' : 'learner';
}

/**
 * Why a membership command cannot do what it says in the latest configuration `config`, or null.
 * Checked before anything is proposed, so that a command that would change nothing, or place a
 * member where another is reached (agent/core/configuration.ts, memberReachedAt), neither logs
 * its links nor uses its nonce, and the operator learns what to do instead.
 */
function membershipProblem(config: ClusterConfiguration, body: AdminBody): string | null {
  const members = allMembers(config).join(', ');
  switch (body.op) {
    case 'add-member': {
      if (isMember(config, body.id)) {
        const current = config.members.find((m) => m.id === body.id)?.address ?? '';
        // A learner that was to become a voter (an add that timed out) may be added again.
        const promotes = !body.learner && roleOf(config, body.id) === 'learner' && current === body.address;
        if (promotes && (body.witness === true) === isWitness(config, body.id)) return null;
        return (
          `${body.id} is already a member (${roleOf(config, body.id)} at ${current}): nothing to add; to give it ` +
          `new keys, 'coraft members rekey ${body.id}'; to change its role or address, remove it first`
        );
      }
      const other = memberReachedAt(config, body.address, body.id);
      if (other === null) return null;
      return `cannot add ${body.id} at ${body.address}: ${other} is reached there (each member needs its own address)`;
    }
    case 'remove-member':
      if (!isMember(config, body.id))
        return `${body.id} is not a member (members: ${members}): nothing to remove (already removed, or never added)`;
      return config.voters.length === 1 && config.voters[0] === body.id
        ? `${body.id} is the only voter: a cluster cannot remove its last voter (add another member first)`
        : null;
    case 'rekey-member':
      return isMember(config, body.id) ? null : `${body.id} is not a member (members: ${members}); add it instead`;
    default:
      return null;
  }
}

/** Most lines a second about refused admin commands. */
const ADMIN_REFUSAL_LOGS_PER_SECOND_MAX = 10;

/** Most nonces the local replay cache holds. */
const RECENT_NONCES_MAX = 1024;

export class AdminRunner {
  /**
   * Nonces this node accepted recently (proposed, transferred, snapshotted) and their expiry. Invariant: size <=
   * RECENT_NONCES_MAX.
   */
  private readonly recent = new Map<string, number>();

  /**
   * `refused` hears the reason of every command admission refuses (unsigned, forged, foreign, expired, replayed): the
   * node logs it (adminRefusalLog).
   */
  constructor(
    private readonly host: AdminHost,
    private readonly authority: AdminAuthority | null,
    private readonly refused: (reason: string) => void = () => undefined,
    private readonly wallClockMs: () => number = Date.now,
  ) {}

  /** Checks a command as the node that acts on it; throws ForbiddenError (told `refused`) or SerializationError. */
  private admit(payload: Uint8Array): SignedAdminCommand {
    try {
      return this.admission(payload);
    } catch (error) {
      if (error instanceof ForbiddenError) this.refused(error.message);
      throw error;
    }
  }

  private admission(payload: Uint8Array): SignedAdminCommand {
    if (this.authority === null)
      throw new ForbiddenError('admin operations are disabled on this node (no admin public key in its configuration)');
    let command: SignedAdminCommand;
    try {
      command = decodeSignedAdmin(payload);
    } catch (error) {
      if (error instanceof SerializationError) throw new ForbiddenError(`refused admin command: ${error.message}`);
      throw error;
    }
    const now = this.wallClockMs();
    const problem = admissionProblem(command, this.authority.cluster, this.authority.adminKey(), now);
    if (problem !== null) throw new ForbiddenError(`refused admin command: ${problem}`);
    for (const [nonce, expires] of this.recent) if (expires <= now) this.recent.delete(nonce);
    if (this.recent.has(command.body.nonce) || this.authority.nonceSeen(command.body.nonce))
      throw new ForbiddenError('refused admin command: it was used already (replayed nonce)');
    if (this.recent.size >= RECENT_NONCES_MAX)
      throw new ForbiddenError(
        `refused admin command: ${RECENT_NONCES_MAX} recent commands are still unexpired; retry later`,
      );
    return command;
  }

  /**
   * Runs `act` as the use of the command's nonce: recorded first, so a replay racing it is
   * refused, and forgotten again when `act` fails before anything happened (this node did not
   * lead, or refused to propose), so the command may still be sent to the right node.
   */
  private async once<T>(command: SignedAdminCommand, act: () => Promise<T>): Promise<T> {
    this.recent.set(command.body.nonce, command.body.expiresAtMs);
    try {
      return await act();
    } catch (error) {
      if (error instanceof NotLeaderError || (error instanceof ProposalError && error.code !== 'RAFT_PROPOSAL_DROPPED'))
        this.recent.delete(command.body.nonce);
      throw error;
    }
  }

  /** Runs a command on this node, which must lead (a forwarded or local admin request). */
  async runOnLeader(payload: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const command = this.admit(payload);
    const body = command.body;
    if (body.op === 'snapshot' || body.op === 'backup')
      throw new ForbiddenError(`a ${body.op} command runs on the node it names, not through the leader`);
    if (body.op === 'transfer-leadership')
      return encodeAdminResult({
        leader: await this.once(command, () => this.host.transferLeadership(body.to, timeoutMs)),
      });
    const problem = membershipProblem(this.host.getConfiguration(), body) ?? (await this.placeProblem(body));
    if (problem !== null) throw new MembershipError(problem);
    if (isLoggedOperation(body)) await this.once(command, () => this.propose(payload, timeoutMs));
    switch (body.op) {
      case 'add-member':
        await this.host.addServer(body.id, body.address, { learner: body.learner, witness: body.witness === true });
        break;
      case 'remove-member':
        await this.host.removeServer(body.id);
        break;
      case 'rekey-member':
      case 'set-admin-key':
        break;
    }
    return encodeAdminResult({ leader: this.host.getLeaderId() });
  }

  /**
   * Why an add places its member where the peer transport already reaches this node or another
   * member, or null: the comparison membershipProblem cannot make (a host name and the literal it
   * resolves to, two forms of one IPv6 address), made as the transport's address book makes it.
   * Refused before anything is proposed: the book would refuse to send to the learner, which would
   * wait out its catch-up and be removed again.
   */
  private async placeProblem(body: AdminBody): Promise<string | null> {
    if (body.op !== 'add-member') return null;
    const holder = await this.host.reachedAt(body.address);
    if (holder === null || ('peer' in holder && holder.peer === body.id)) return null;
    const who = 'peer' in holder ? holder.peer : `${this.host.getNodeId()} (the leader)`;
    return `cannot add ${body.id} at ${body.address}: ${who} is reached there (each member needs its own address)`;
  }

  /** Runs a signed snapshot command on this node, which it must name. */
  async snapshotHere(payload: Uint8Array): Promise<LogIndex> {
    const command = this.admit(payload);
    const body = command.body;
    if (body.op !== 'snapshot') throw new ForbiddenError(`expected a signed snapshot command, got ${body.op}`);
    if (body.node !== this.host.getNodeId())
      throw new ForbiddenError(`the snapshot command names ${body.node}, not this node`);
    return this.once(command, () => this.host.snapshotNow());
  }

  /** Proposes the command as an admin entry and waits for its verdict at apply. */
  private async propose(envelope: Uint8Array, timeoutMs: number): Promise<void> {
    const result = decodeAdminApplyResult(
      await this.host.submitCommand(encodeAdminEntry({ envelope, timeMs: Math.floor(this.wallClockMs()) }), timeoutMs),
    );
    if (result.ok) return;
    const refusal = `the admin command was refused at apply: ${result.reason}`;
    this.refused(refusal);
    throw new ForbiddenError(refusal);
  }
}

/**
 * Logs refused admin commands on `node`: each reason once, then at most once a minute with how many were left out
 * (agent/membership/refusal-log.ts), so that someone trying forged or replayed commands is seen without one line each.
 */
export function adminRefusalLog(
  logger: DiagnosticLogger,
  node: NodeId,
  clock: { nowMs(): number },
): (reason: string) => void {
  const lines = new RefusalLog(() => clock.nowMs(), ADMIN_REFUSAL_LOGS_PER_SECOND_MAX);
  return (reason) => {
    const suppressed = lines.take(reason);
    if (suppressed !== null) logger.warning('refused an admin command', { node, reason, suppressed });
  };
}
