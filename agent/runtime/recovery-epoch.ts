/**
 * Recovery epochs: how a cluster that `coraft recover --force-new-cluster` rebuilt on one survivor
 * tells the members it left out, and how they stop.
 *
 * A recovery forks the cluster's history: the survivor keeps the entries it knew committed and
 * goes on alone, while a member left out keeps its own log, which may hold entries (of terms the
 * survivor never saw, even of the very terms the survivor then uses) that the recovered cluster
 * never had. Raft's log matching assumes one history: an entry of the same index and term is the
 * same entry. A left-out member that came back with its old data folder (and new keys, so that
 * its sessions open) would take the recovered leader's appends as matching its own log where
 * they do not, and old members together could elect one of them and overwrite the recovered log.
 *
 * So the term space is split into epochs of TERMS_PER_EPOCH terms, and a recovery moves the
 * survivor into the next epoch (its new term is the first of that epoch, above every term it
 * saw). No member of the old history can reach that epoch by elections of its own (a billion of
 * them), so the epoch of a message's term says which history its sender is of. The terms of the
 * recovered cluster read as the epoch followed by nine digits (term 1000000004: epoch 1, term 4).
 * - A node holding state (any log or snapshot) of an earlier epoch that hears a message of a
 *   later one was left out by a recovery: it neither adopts the term nor answers, and stops with
 *   an error that says to wipe its data folder and add it back (a configuration error, exit 78:
 *   a restart cannot help). A node with nothing stored (a wiped member being added) takes the
 *   epoch with its first message, as any term.
 * - A node of a later epoch refuses a message of an earlier one as stale, as Raft refuses any
 *   older term (its answer carries its term, so the sender learns it was left out), and logs once
 *   per peer who that sender is.
 * Old members that cannot reach the recovered cluster (their keys were removed by the recovery)
 * hear nothing and cannot tell: deploy/README.md, section 7, says never to start them unwiped.
 *
 * A node that stopped so records it in its data folder (LEFT_OUT_FILE, the error's text), and
 * every later start on that folder is refused the same way (exit 78) before the storage opens:
 * the folder is never served again. Wiping the folder, as the error says, removes the record too.
 */
import { join } from 'node:path';
import type { NodeId, Term } from '../../contracts/log.js';
import { writeFileDurably } from '../config/secret-files.js';
import { readDataFile } from './data-dir.js';
import { LeftOutError } from '../../contracts/errors.js';
import { assert } from '../../contracts/assert.js';

/** Terms per recovery epoch: epoch e holds terms e * TERMS_PER_EPOCH up to the next epoch's first. */
export const TERMS_PER_EPOCH = 1_000_000_000;

/** The recovery epoch of `term`: how many recoveries the history of its holder went through. */
export function epochOfTerm(term: number): number {
  assert(Number.isSafeInteger(term) && term >= 0, 'a term is a non-negative integer');
  return Math.floor(term / TERMS_PER_EPOCH);
}

/** The term a recovery writes: the first of the epoch after that of `termMax` (the highest term seen). */
export function firstTermOfNextEpoch(termMax: number): Term {
  const term = (epochOfTerm(termMax) + 1) * TERMS_PER_EPOCH;
  assert(term > termMax, 'the next epoch starts above every term seen');
  return term;
}

/** What a node knows of itself when a message arrives. */
export interface OwnTerm {
  readonly nodeId: NodeId;
  readonly term: Term;
  /** The last index of its log (its snapshot's when the log is empty); 0 when it holds nothing. */
  readonly lastIndex: number;
}

/** What the node's operator must do, for the error and the log. */
export const LEFT_OUT_ADVICE =
  'stop this gateway for good (systemctl stop coraft), wipe its data folder (/var/lib/coraft), re-provision it ' +
  '(coraft provision --remove ID, then --add ID ADDRESS: new keys) and add it back to the recovered cluster ' +
  '(coraft members add); deploy/README.md, section 7';

/**
 * The error that stops `self` when `from` speaks for a later epoch than `self` holds state of
 * (see the module comment), or null when the message may be stepped.
 */
export function leftOutError(self: OwnTerm, from: NodeId, term: Term): LeftOutError | null {
  const theirs = epochOfTerm(term);
  const ours = epochOfTerm(self.term);
  if (theirs <= ours || self.lastIndex === 0) return null;
  return new LeftOutError(
    `left out by a recovery: ${from} speaks for recovery epoch ${theirs} (term ${term}), this node holds ` +
      `state of epoch ${ours} (term ${self.term}, log up to ${self.lastIndex}): the cluster was rebuilt by ` +
      '`coraft recover --force-new-cluster` on another member without this one, and this data folder holds ' +
      `a history it forked from. ${self.nodeId} stops and takes no part: ${LEFT_OUT_ADVICE}`,
  );
}

/** Whether a message of `term` comes from a member of an earlier epoch than `self` (one a recovery left out). */
export function isOfEarlierEpoch(self: OwnTerm, term: Term): boolean {
  return epochOfTerm(term) < epochOfTerm(self.term);
}

/** The record, in the data folder, that a recovery left this folder's history out. */
export const LEFT_OUT_FILE = 'left-out-by-recovery.txt';

/** Records in `dataDir` that `error` stopped its node (durably: a crash right after must not forget it). */
export function recordLeftOut(dataDir: string, error: LeftOutError): void {
  writeFileDurably(join(dataDir, LEFT_OUT_FILE), `${error.message}\n`, 0o600);
}

/** Throws LeftOutError when `dataDir` holds the record of recordLeftOut: the folder is not served again. */
export function checkNotLeftOut(dataDir: string): void {
  const file = readDataFile(dataDir, LEFT_OUT_FILE);
  if (file === null) return;
  throw new LeftOutError(
    `${file.path}: this data folder was left out by a recovery and is not served again (wipe the folder to ` +
      `bring the gateway back as a new member). It recorded: ${file.text.trim()}`,
  );
}
