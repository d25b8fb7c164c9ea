/**
 * The one validation rule every transport option shares: a number in a documented range.
 */

/** Records a problem unless `value` is a number (an integer when `integer`) in [min, max]. */
export function checkRange(
  problems: string[],
  name: string,
  value: number,
  min: number,
  max: number,
  integer = true,
): void {
  const ok = Number.isFinite(value) && (!integer || Number.isInteger(value)) && value >= min && value <= max;
  if (!ok)
    problems.push(`${name} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${String(value)}`);
}
