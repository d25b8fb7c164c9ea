// fast-check arbitraries of CoAP datagrams for the property tests of the receive path: valid
// requests with options drawn from every number the server knows (and some it does not), with
// values of every length class, UTF-8 and not; the same messages cut or with a byte changed;
// and arbitrary bytes behind a mostly valid header.
import fc from 'fast-check';
import { CoapOption, CoapType } from '../../../transport/coap/codes.js';
import { encodeMessage, type CoapOptionValue } from '../../../transport/coap/message.js';

const bytes = (min: number, max: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: min, maxLength: max });

/** Option numbers a request may carry, critical and elective ones it may not, and coraft's. */
const OPTION_NUMBERS: readonly number[] = [
  ...Object.values(CoapOption),
  2, // unknown elective
  9, // OSCORE: critical, not recognised here
  13, // unknown critical
  258, // No-Response: elective
  2049, // elective, needs a two-byte delta
  65001, // experimental critical
  65535,
];

/** An option value: usually short, sometimes of a length needing the 1- or 2-byte extension. */
const optionValue: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 6, arbitrary: bytes(0, 9) },
  { weight: 2, arbitrary: fc.string({ maxLength: 6 }).map((s) => Uint8Array.from(Buffer.from(s, 'utf8'))) },
  { weight: 1, arbitrary: fc.constantFrom([0xc3, 0xa9], [0xff], [0xc3], [0xe2, 0x82]).map((b) => Uint8Array.from(b)) },
  { weight: 1, arbitrary: bytes(12, 300) },
);

/** The options a request parser reads most closely, drawn more often so that they repeat. */
const READ_OPTIONS: readonly number[] = [
  CoapOption.UriPath,
  CoapOption.UriQuery,
  CoapOption.ContentFormat,
  CoapOption.Accept,
  CoapOption.Observe,
  CoapOption.ETag,
  CoapOption.IfMatch,
  CoapOption.IfNoneMatch,
  CoapOption.Size1,
  CoapOption.Block1,
  CoapOption.Block2,
  CoapOption.QBlock1,
  CoapOption.RequestTag,
];

export const option: fc.Arbitrary<CoapOptionValue> = fc.record({
  number: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...READ_OPTIONS) },
    { weight: 4, arbitrary: fc.constantFrom(...OPTION_NUMBERS) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 65535 }) },
  ),
  value: fc.oneof({ weight: 3, arbitrary: bytes(0, 3) }, { weight: 3, arbitrary: optionValue }),
});

/** Request-like codes: the methods, unknown request codes, and now and then a response or Empty. */
const code: fc.Arbitrary<number> = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 1, max: 7 }) },
  { weight: 1, arbitrary: fc.integer({ min: 8, max: 31 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
);

/** An encoded message, valid (options may still be unacceptable to the request parser). */
export const validDatagram: fc.Arbitrary<Uint8Array> = fc
  .record({
    type: fc.constantFrom(CoapType.CON, CoapType.NON, CoapType.ACK, CoapType.RST),
    code,
    messageId: fc.integer({ min: 0, max: 0xffff }),
    token: bytes(0, 8),
    options: fc.array(option, { maxLength: 8 }),
    payload: fc.oneof(bytes(0, 0), bytes(1, 40)),
  })
  .map((m) =>
    m.code === 0
      ? encodeMessage({ ...m, token: new Uint8Array(0), options: [], payload: new Uint8Array(0) })
      : encodeMessage(m),
  );

/** Datagrams of every kind: valid, cut short, with one byte changed, or arbitrary. */
export const anyDatagram: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 5, arbitrary: validDatagram },
  {
    weight: 2,
    arbitrary: fc
      .tuple(validDatagram, fc.nat())
      .map(([datagram, cut]) => datagram.subarray(0, cut % (datagram.length + 1))),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(validDatagram, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([datagram, at, value]) => {
      const changed = Uint8Array.from(datagram);
      if (changed.length > 0) changed[at % changed.length] = value;
      return changed;
    }),
  },
  { weight: 1, arbitrary: bytes(0, 40) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 3 }), bytes(3, 60))
      .map(([tkl, type, rest]) => Uint8Array.from([0x40 | (type << 4) | tkl, ...rest])),
  },
);

/** `bytes` as a Buffer (as node:dgram delivers them) or as a plain Uint8Array with an offset. */
export function asDelivered(data: Uint8Array, asBuffer: boolean): Uint8Array {
  if (asBuffer) return Buffer.from(data);
  const padded = new Uint8Array(data.length + 3);
  padded.set(data, 3);
  return padded.subarray(3);
}

/** Byte arrays as hex, recursively, so that deepEqual compares contents whatever the array class. */
export function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return `hex:${Buffer.from(value).toString('hex')}`;
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}
