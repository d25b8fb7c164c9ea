/**
 * A safe integer >= 0 written as its decimal ASCII digits, exactly String(value)'s characters,
 * straight into a byte array (the write path's answers and request-id inputs; no string built).
 */

/** The length of String(value) for a safe integer `value` >= 0. */
export function decimalLength(value: number): number {
  let digits = 1;
  for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits += 1;
  return digits;
}

/** Writes String(value)'s digits (a safe integer >= 0) at `at`; returns where the next byte goes. */
export function writeDecimalDigits(into: Uint8Array, at: number, value: number): number {
  const end = at + decimalLength(value);
  let rest = value;
  for (let i = end - 1; i >= at; i -= 1) {
    into[i] = 0x30 + (rest % 10);
    rest = Math.floor(rest / 10);
  }
  return end;
}
