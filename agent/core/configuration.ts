/**
 * Cluster configurations (Raft §6): validation, the encoding of configuration entries, and
 * the pure maths of a change. A configuration is joint (C_old,new) while `oldVoters` is set;
 * then elections and commitment need majorities of both `voters` and `oldVoters`.
 */
import { assert } from '../../contracts/assert.js';
import type { QuorumVoters } from './quorum.js';
import { NODE_ID_LENGTH_MAX, type ClusterConfiguration, type ClusterMember, type NodeId } from '../../contracts/log.js';

/** Most members of one configuration. */
export const MEMBERS_MAX = 64;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * A configuration with the given voters and no learners (addresses empty unless `members` gives
 * them); `witnesses` (a subset of `voters`) are witness members.
 */
export function simpleConfiguration(
  voters: readonly NodeId[],
  members: readonly ClusterMember[] = [],
  witnesses: readonly NodeId[] = [],
): ClusterConfiguration {
  const sorted = [...new Set(voters)].sort();
  const known = new Map(members.map((m) => [m.id, m.address]));
  return withWitnesses(
    {
      voters: sorted,
      learners: [],
      oldVoters: null,
      members: sorted.map((id) => ({ id, address: known.get(id) ?? '' })),
    },
    witnesses,
  );
}

/** The witnesses of a configuration (empty when it has none). */
export function witnessesOf(config: ClusterConfiguration): readonly NodeId[] {
  return config.witnesses ?? [];
}

/** True when `id` is a witness member of the configuration (it stores only terms and indexes). */
export function isWitness(config: ClusterConfiguration, id: NodeId): boolean {
  return config.witnesses?.includes(id) ?? false;
}

/**
 * `config` with `witnesses` (sorted, without duplicates) as its witness list: the field is left
 * out when the list is empty, which is the one canonical form of "no witness".
 */
export function withWitnesses(config: ClusterConfiguration, witnesses: readonly NodeId[]): ClusterConfiguration {
  const { voters, learners, oldVoters, members } = config;
  const base: ClusterConfiguration = { voters, learners, oldVoters, members };
  if (witnesses.length === 0) return base;
  return { ...base, witnesses: [...new Set(witnesses)].sort() };
}

/** The voters of a configuration, as quorum arithmetic sees them. */
export function quorumVoters(config: ClusterConfiguration): QuorumVoters {
  return { incoming: config.voters, outgoing: config.oldVoters };
}

/** Every node the configuration names: voters (old and new) and learners, sorted. */
export function allMembers(config: ClusterConfiguration): NodeId[] {
  const ids = new Set<NodeId>([...config.voters, ...config.learners, ...(config.oldVoters ?? [])]);
  return [...ids].sort();
}

/** True when `id` votes in either half of the configuration. */
export function isVoter(config: ClusterConfiguration, id: NodeId): boolean {
  return config.voters.includes(id) || (config.oldVoters?.includes(id) ?? false);
}

/** True when the configuration names `id` in any role. */
export function isMember(config: ClusterConfiguration, id: NodeId): boolean {
  return isVoter(config, id) || config.learners.includes(id);
}

/** The address of `id`, or '' when the configuration does not give one. */
export function addressOf(config: ClusterConfiguration, id: NodeId): string {
  return config.members.find((m) => m.id === id)?.address ?? '';
}

/** Returns the problems of a configuration (empty when valid). */
export function configurationProblems(config: ClusterConfiguration): string[] {
  const problems: string[] = [];
  const checkIds = (ids: readonly NodeId[], what: string): void => {
    if (new Set(ids).size !== ids.length) problems.push(`${what} has duplicates`);
    for (const id of ids) if (!isValidNodeId(id)) problems.push(`${what} has an invalid node id ${JSON.stringify(id)}`);
  };
  checkIds(config.voters, 'voters');
  checkIds(config.learners, 'learners');
  if (config.oldVoters !== null) {
    checkIds(config.oldVoters, 'oldVoters');
    if (config.oldVoters.length === 0) problems.push('oldVoters of a joint configuration is empty');
  }
  if (config.voters.length === 0) problems.push('a configuration needs at least one voter');
  for (const id of config.learners) if (isVoter(config, id)) problems.push(`${id} is both a voter and a learner`);
  if (allMembers(config).length > MEMBERS_MAX) problems.push(`more than ${MEMBERS_MAX} members`);
  problems.push(...witnessProblems(config, checkIds));
  for (const member of config.members) {
    if (!isMember(config, member.id)) problems.push(`address given for non-member ${member.id}`);
    if (typeof member.address !== 'string' || member.address.length > 255)
      problems.push(`bad address for ${member.id}`);
  }
  return problems;
}

/**
 * The problems of the witness list: each witness is a member, the list is absent rather than
 * empty, and in each half of the configuration the witnesses are fewer than a quorum, so that
 * every quorum holds a full member. A commit then always reaches the disk of a full member of
 * the configuration that committed it: a quorum of witnesses alone could commit an entry whose
 * value no remaining member holds (say, once the leader that wrote it removed itself), and the
 * witnesses, which keep its term, would then refuse every full member their votes for ever.
 * It also keeps a voter that can lead in each half (a witness never leads).
 */
function witnessProblems(
  config: ClusterConfiguration,
  checkIds: (ids: readonly NodeId[], what: string) => void,
): string[] {
  if (config.witnesses === undefined) return [];
  const witnesses = config.witnesses;
  const problems: string[] = [];
  if (witnesses.length === 0) problems.push('witnesses is empty (leave it out instead)');
  checkIds(witnesses, 'witnesses');
  for (const id of witnesses) if (!isMember(config, id)) problems.push(`witness ${id} is not a member`);
  const tooMany = (ids: readonly NodeId[]): boolean =>
    ids.length > 0 && ids.filter((id) => witnesses.includes(id)).length >= Math.floor(ids.length / 2) + 1;
  if (tooMany(config.voters))
    problems.push('witnesses make up a quorum of the voters: a quorum must hold a full member');
  if (config.oldVoters !== null && tooMany(config.oldVoters))
    problems.push('witnesses make up a quorum of the old voters: a quorum must hold a full member');
  return problems;
}

/** A node id is a non-empty printable string of at most NODE_ID_LENGTH_MAX characters. */
export function isValidNodeId(id: unknown): id is NodeId {
  return typeof id === 'string' && id.length > 0 && id.length <= NODE_ID_LENGTH_MAX && /^[\x21-\x7e]+$/.test(id);
}

/** Encodes a configuration as the command of a `config` entry (UTF-8 JSON, sorted lists). */
export function encodeConfiguration(config: ClusterConfiguration): Uint8Array {
  assert(configurationProblems(config).length === 0, 'only valid configurations are encoded');
  const canonical = {
    voters: [...config.voters].sort(),
    learners: [...config.learners].sort(),
    oldVoters: config.oldVoters === null ? null : [...config.oldVoters].sort(),
    members: [...config.members]
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((m) => ({ id: m.id, address: m.address })),
    // Only when there is one: a configuration without witnesses encodes as it always did.
    ...(config.witnesses === undefined ? {} : { witnesses: [...config.witnesses].sort() }),
  };
  return encoder.encode(JSON.stringify(canonical));
}

/** Decodes the command of a `config` entry; returns null when it is not a valid configuration. */
export function decodeConfiguration(bytes: Uint8Array): ClusterConfiguration | null {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch {
    // Not UTF-8 or not JSON: the caller treats null as a malformed entry.
    return null;
  }
  return parseConfiguration(value);
}

/** Parses an untrusted value as a configuration; null when it is not a valid one. */
export function parseConfiguration(value: unknown): ClusterConfiguration | null {
  if (typeof value !== 'object' || value === null) return null;
  const voters = stringList(Reflect.get(value, 'voters'));
  const learners = stringList(Reflect.get(value, 'learners'));
  const oldRaw: unknown = Reflect.get(value, 'oldVoters');
  const oldVoters = oldRaw === null ? null : stringList(oldRaw);
  const members = memberList(Reflect.get(value, 'members'));
  if (voters === null || learners === null || members === null || (oldRaw !== null && oldVoters === null)) return null;
  const witnessesRaw: unknown = Reflect.get(value, 'witnesses');
  const witnesses = witnessesRaw === undefined ? undefined : stringList(witnessesRaw);
  if (witnesses === null) return null;
  const config: ClusterConfiguration = { voters, learners, oldVoters, members, ...(witnesses && { witnesses }) };
  return configurationProblems(config).length === 0 ? config : null;
}

function stringList(value: unknown): NodeId[] | null {
  if (!Array.isArray(value) || value.length > MEMBERS_MAX * 2) return null;
  const result: NodeId[] = [];
  for (const item of value) {
    if (!isValidNodeId(item)) return null;
    result.push(item);
  }
  return result;
}

function memberList(value: unknown): ClusterMember[] | null {
  if (!Array.isArray(value) || value.length > MEMBERS_MAX * 2) return null;
  const result: ClusterMember[] = [];
  for (const item of value) {
    if (typeof item !== 'object' || item === null) return null;
    const id: unknown = Reflect.get(item, 'id');
    const address: unknown = Reflect.get(item, 'address');
    if (!isValidNodeId(id) || typeof address !== 'string') return null;
    result.push({ id, address });
  }
  return result;
}

/** True when two configurations name the same voters, old voters, learners and addresses. */
export function sameConfiguration(a: ClusterConfiguration, b: ClusterConfiguration): boolean {
  return JSON.stringify(canonicalOf(a)) === JSON.stringify(canonicalOf(b));
}

function canonicalOf(config: ClusterConfiguration): unknown {
  return {
    voters: [...config.voters].sort(),
    learners: [...config.learners].sort(),
    oldVoters: config.oldVoters === null ? null : [...config.oldVoters].sort(),
    members: [...config.members].map((m) => `${m.id}=${m.address}`).sort(),
    witnesses: [...witnessesOf(config)].sort(),
  };
}

/** A membership change the leader can propose. */
export type ConfigurationChange =
  | { readonly kind: 'add-learner'; readonly id: NodeId; readonly address: string; readonly witness?: boolean }
  | { readonly kind: 'promote'; readonly id: NodeId }
  | { readonly kind: 'remove'; readonly id: NodeId };

/** The outcome of planning a change. */
export type ChangePlan =
  { readonly ok: true; readonly next: ClusterConfiguration } | { readonly ok: false; readonly reason: string };

/**
 * The configuration that starts `change` from the non-joint `current`: adding or removing a
 * learner is one step (learners never count toward a quorum); promoting or removing a voter
 * enters the joint configuration C_old,new, which the leader leaves once it commits.
 */
export function planChange(current: ClusterConfiguration, change: ConfigurationChange): ChangePlan {
  if (current.oldVoters !== null)
    return { ok: false, reason: 'a membership change is already in progress (joint configuration)' };
  const members = current.members.filter((m) => m.id !== change.id);
  switch (change.kind) {
    case 'add-learner': {
      if (isMember(current, change.id)) return { ok: false, reason: `${change.id} is already a member` };
      const next = {
        ...current,
        learners: [...current.learners, change.id].sort(),
        members: [...members, { id: change.id, address: change.address }],
      };
      return checked(withWitnesses(next, [...witnessesOf(current), ...(change.witness === true ? [change.id] : [])]));
    }
    case 'promote': {
      if (!current.learners.includes(change.id)) return { ok: false, reason: `${change.id} is not a learner` };
      return checked({
        voters: [...current.voters, change.id].sort(),
        learners: current.learners.filter((id) => id !== change.id),
        oldVoters: current.voters,
        members: current.members,
        ...(current.witnesses && { witnesses: current.witnesses }),
      });
    }
    case 'remove': {
      if (current.learners.includes(change.id)) {
        const next = { ...current, learners: current.learners.filter((id) => id !== change.id), members };
        return checked(
          withWitnesses(
            next,
            witnessesOf(current).filter((id) => id !== change.id),
          ),
        );
      }
      if (!current.voters.includes(change.id)) return { ok: false, reason: `${change.id} is not a member` };
      if (current.voters.length === 1) return { ok: false, reason: 'cannot remove the last voter' };
      return checked({
        voters: current.voters.filter((id) => id !== change.id),
        learners: current.learners,
        oldVoters: current.voters,
        members: current.members,
        ...(current.witnesses && { witnesses: current.witnesses }),
      });
    }
  }
}

/**
 * The joint configuration C_old,new that changes several voters at once (Raft §6): the learners in
 * `promote` become voters and the voters in `remove` leave the configuration, in one step. Nothing
 * may be named twice or left without a voter; a voter to be kept as a learner is removed here and
 * added back as a learner once C_new is in force (a joint configuration names each node once).
 */
export function planVoterChange(
  current: ClusterConfiguration,
  promote: readonly NodeId[],
  remove: readonly NodeId[],
): ChangePlan {
  if (current.oldVoters !== null)
    return { ok: false, reason: 'a membership change is already in progress (joint configuration)' };
  if (promote.length + remove.length === 0) return { ok: false, reason: 'the change names no server' };
  if (new Set([...promote, ...remove]).size !== promote.length + remove.length)
    return { ok: false, reason: 'a server is named twice' };
  for (const id of promote) if (!current.learners.includes(id)) return { ok: false, reason: `${id} is not a learner` };
  for (const id of remove) if (!current.voters.includes(id)) return { ok: false, reason: `${id} is not a voter` };
  const voters = [...current.voters.filter((id) => !remove.includes(id)), ...promote].sort();
  if (voters.length === 0) return { ok: false, reason: 'cannot remove every voter' };
  return checked({
    voters,
    learners: current.learners.filter((id) => !promote.includes(id)),
    oldVoters: current.voters,
    members: current.members,
    ...(current.witnesses && { witnesses: current.witnesses }),
  });
}

/**
 * Why the configuration `next` may not follow `current` directly, or null when it may: from a
 * non-joint configuration the next one either keeps the voters (learner changes) or is the
 * joint configuration whose old half is exactly the current voters (Raft §6).
 */
export function transitionProblem(current: ClusterConfiguration, next: ClusterConfiguration): string | null {
  if (current.oldVoters !== null) return 'a membership change is already in progress (joint configuration)';
  const problems = configurationProblems(next);
  if (problems.length > 0) return `invalid configuration: ${problems.join('; ')}`;
  // A witness holds no values, so it can never become a full member, and a full member never
  // becomes a witness in place (its values would stay on its disk): remove and add again.
  for (const id of allMembers(next)) {
    if (isMember(current, id) && isWitness(current, id) !== isWitness(next, id))
      return `${id} cannot change between witness and full member (remove it and add it again)`;
  }
  const shared = sharedAddressProblem(current, next);
  if (shared !== null) return shared;
  const same = (a: readonly NodeId[], b: readonly NodeId[]): boolean =>
    a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');
  if (next.oldVoters === null) {
    return same(next.voters, current.voters) ? null : 'changing voters needs a joint configuration (C_old,new)';
  }
  return same(next.oldVoters, current.voters)
    ? null
    : 'the old half of a joint configuration must be the current voters';
}

/**
 * The member of `config` other than `except` that is reached at `address`, or null. Addresses
 * compare as written, the host without regard to case; an empty address (in-process clusters)
 * names no place.
 */
export function memberReachedAt(config: ClusterConfiguration, address: string, except: NodeId): NodeId | null {
  if (address === '') return null;
  const wanted = address.toLowerCase();
  return config.members.find((m) => m.id !== except && m.address.toLowerCase() === wanted)?.id ?? null;
}

/**
 * Why `next` may not place a member where another one is reached, or null. A peer's replies
 * count for the member the request was sent to, so two members at one address would let one
 * process answer (and vote, and count toward a quorum) for both. Only a member that `next`
 * places anew (a new member, or a new address) is checked, so that a configuration that already
 * holds such a pair can still change, for instance to remove one of them.
 */
function sharedAddressProblem(current: ClusterConfiguration, next: ClusterConfiguration): string | null {
  for (const member of next.members) {
    if (current.members.some((m) => m.id === member.id && m.address === member.address)) continue;
    const other = memberReachedAt(next, member.address, member.id);
    if (other !== null)
      return (
        `${member.id} cannot be reached at ${member.address}: ${other} is reached there ` +
        '(each member needs its own peer address)'
      );
  }
  return null;
}

/** The configuration that leaves a joint one: C_new, dropping addresses of nodes no longer named. */
export function leaveJoint(joint: ClusterConfiguration): ClusterConfiguration {
  assert(joint.oldVoters !== null, 'only a joint configuration is left');
  const next: ClusterConfiguration = { voters: joint.voters, learners: joint.learners, oldVoters: null, members: [] };
  const left = { ...next, members: joint.members.filter((m) => isMember(next, m.id)) };
  return withWitnesses(
    left,
    witnessesOf(joint).filter((id) => isMember(next, id)),
  );
}

function checked(config: ClusterConfiguration): ChangePlan {
  const problems = configurationProblems(config);
  return problems.length === 0 ? { ok: true, next: config } : { ok: false, reason: problems.join('; ') };
}
