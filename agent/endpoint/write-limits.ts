/**
 * The endpoint's refusals of writes over a limit, made before anything is proposed: 4.13 with
 * Size1 naming the limit (RFC 7959 §4) and a diagnostic naming the option, each counted in
 * `endpoint_limit_refusals_total{limit}`. A value sent in blocks is judged on each block
 * (`valueCheck`), by its announced Size1 at the first block, so it is never held whole.
 */
import { CoapOption, CoapResponseCode } from '../../transport/coap/index.js';
import type { CoapResponse } from '../../transport/coap/index.js';
import { uintOption } from '../../transport/coap/options.js';
import type { CoapBodyCheck } from '../../transport/coap/router.js';
import type { Metrics } from '../../contracts/metrics.js';
import { errorResponse } from './responses.js';

/** The options whose limits a write may pass. */
export type WriteLimit = 'valueBytesMax' | 'commandBytesMax';

/** Refusals of writes over valueBytesMax or commandBytesMax. */
export class WriteLimits {
  constructor(
    private readonly options: { readonly valueBytesMax: number; readonly commandBytesMax: number },
    private readonly metrics: Metrics | null,
  ) {}

  /** The refusal of a value of `bytes` (at least that many, when `partial`), or null within the limit. */
  value(bytes: number, partial = false): CoapResponse | null {
    const max = this.options.valueBytesMax;
    if (bytes <= max) return null;
    const size = partial ? `at least ${bytes}` : `${bytes}`;
    return this.tooLarge(
      'valueBytesMax',
      `value of ${size} bytes exceeds the key-value limit valueBytesMax (${max} bytes)`,
    );
  }

  /** The refusal of a write whose encoded command is `bytes` long, or null within the limit. */
  command(bytes: number): CoapResponse | null {
    const max = this.options.commandBytesMax;
    if (bytes <= max) return null;
    return this.tooLarge('commandBytesMax', `write of ${bytes} bytes exceeds commandBytesMax (${max} bytes)`);
  }

  /** PUT /kv/{key}'s check of a value that comes in blocks (CoapBodyCheck). */
  readonly valueCheck: CoapBodyCheck = ({ bytes, announced }) => this.value(bytes, !announced);

  private tooLarge(limit: WriteLimit, text: string): CoapResponse {
    this.metrics?.increment('endpoint_limit_refusals_total', 1, { limit });
    const max = this.options[limit];
    return {
      ...errorResponse(CoapResponseCode.RequestEntityTooLarge, text),
      options: [uintOption(CoapOption.Size1, max)],
    };
  }
}
