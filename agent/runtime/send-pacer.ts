/**
 * Paces the node's outbound peer requests: at most about `turnBytesMax` bytes of them are sent in
 * one turn of the event loop, the rest in later turns, in order (issue 16: 256 clients x 64 KiB).
 *
 * A leader's Ready may hand out megabytes of appends at once (inflightBytesMax per follower), and
 * sending them is synchronous work: each 64 KiB entry is cut into pieces, sealed into DTLS records
 * and handed to the kernel. Measured on the loaded leader, such bursts held its event loop for up to
 * 300 ms (perf_hooks.monitorEventLoopDelay, p99 150 ms), while 256 clients kept sending it 64 KiB
 * bodies: its endpoint's receive buffer (8 MiB as the kernel counts it) filled and the kernel
 * dropped 400-800 datagrams a run, each a client retransmission 0.5-1 s later, the tail of p99.
 * Between two turns the event loop reads the sockets (libuv's poll phase comes before setImmediate's).
 *
 * A request larger than the budget still goes whole, alone in its turn; the waiting ones are bounded
 * by what the core hands out (inflightCountMax and inflightBytesMax per follower). The simulator
 * and the tests that step nodes by hand do not pace (RaftNodeDeps.paceSends absent).
 */
import { assert } from '../../contracts/assert.js';
import { FrontQueue } from '../../contracts/front-queue.js';

/** How sends are paced: the bytes of one turn, and how to run something in the next turn (setImmediate). */
export interface SendPacing {
  readonly turnBytesMax: number;
  readonly nextTurn: (run: () => void) => void;
}

/** Bytes of peer requests the agent sends in one turn of its event loop (agent.ts). */
export const PEER_SEND_TURN_BYTES = 1024 * 1024;

/** One send waiting for its turn. */
interface WaitingSend {
  readonly bytes: number;
  readonly send: () => void;
}

/** See the module comment. */
export class SendPacer {
  /** Bytes sent in this turn so far. */
  private used = 0;
  /** The sends not yet sent, oldest first (a send holds its request's bytes: the queue keeps none it sent). */
  private readonly waiting = new FrontQueue<WaitingSend>();
  private armed = false;

  constructor(private readonly pacing: SendPacing) {
    assert(Number.isSafeInteger(pacing.turnBytesMax) && pacing.turnBytesMax > 0, 'a turn sends some bytes');
  }

  /** Sends the requests waiting: bytes in turns still to come. */
  get waitingCount(): number {
    return this.waiting.length;
  }

  /** Runs `send` (a request of about `bytes` bytes) now when this turn has room and none waits, else later. */
  submit(bytes: number, send: () => void): void {
    if (this.waitingCount === 0 && this.used < this.pacing.turnBytesMax) {
      this.used += bytes;
      this.arm();
      send();
      return;
    }
    this.waiting.push({ bytes, send });
    this.arm();
  }

  /** Drops the sends still waiting (the node stopped). */
  clear(): void {
    this.waiting.clear();
  }

  /** Makes the next turn reset the budget and send what waits. */
  private arm(): void {
    if (this.armed) return;
    this.armed = true;
    this.pacing.nextTurn(() => this.turn());
  }

  private turn(): void {
    this.armed = false;
    this.used = 0;
    for (let next = this.waiting.shift(); next !== undefined; next = this.waiting.shift()) {
      this.used += next.bytes;
      next.send();
      if (this.used >= this.pacing.turnBytesMax) break;
    }
    // The budget of this turn resets at the next, which also sends what still waits.
    if (this.used > 0 || this.waitingCount > 0) this.arm();
  }
}
