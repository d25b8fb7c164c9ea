/**
 * The chaos harness's history: every client operation's invoke and completion, in the
 * simulator's JSON Lines format (agent/sim/history.ts), kept in memory for the checker and
 * appended to a file for people. Times are milliseconds since the recorder was made, from the
 * monotonic clock.
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { formatHistoryEvent } from '../../agent/sim/history.js';
import type { HistoryEvent, HistoryOp, InvokeValue } from '../../agent/sim/history.js';

/** Most events one run may record; past it the recorder throws (a run that long is a bug). */
export const HISTORY_EVENTS_MAX = 2_000_000;
/** Lines buffered before they are appended to the file. */
const FLUSH_LINES = 500;

/** How an operation ended: ok with the value read (gets), fail (surely not applied), info (unknown). */
export type Completion = { readonly type: 'ok'; readonly value: string | null } | { readonly type: 'fail' | 'info' };

export class HistoryRecorder {
  readonly events: HistoryEvent[] = [];
  private readonly origin = performance.now();
  private buffered: string[] = [];
  private nextId = 1;

  /** Starts an empty history file at `file` (null: memory only). */
  constructor(private readonly file: string | null) {
    if (file !== null) writeFileSync(file, '');
  }

  /** Milliseconds since the recorder was made. */
  nowMs(): number {
    return Math.round((performance.now() - this.origin) * 1000) / 1000;
  }

  /** Records an invoke; returns the operation id to complete it with. */
  invoke(client: string, op: HistoryOp, key: string, value: InvokeValue): number {
    const id = this.nextId;
    this.nextId += 1;
    this.push({ t: this.nowMs(), type: 'invoke', client, id, op, key, value });
    return id;
  }

  /** Records the completion of operation `id` of `client`. */
  complete(client: string, id: number, completion: Completion): void {
    this.push({
      t: this.nowMs(),
      type: completion.type,
      client,
      id,
      value: completion.type === 'ok' ? completion.value : null,
    });
  }

  /** Appends what is buffered to the file. */
  flush(): void {
    if (this.file !== null && this.buffered.length > 0) appendFileSync(this.file, this.buffered.join(''));
    this.buffered = [];
  }

  private push(event: HistoryEvent): void {
    if (this.events.length >= HISTORY_EVENTS_MAX) throw new Error(`history longer than ${HISTORY_EVENTS_MAX} events`);
    this.events.push(event);
    this.buffered.push(`${formatHistoryEvent(event)}\n`);
    if (this.buffered.length >= FLUSH_LINES) this.flush();
  }
}
