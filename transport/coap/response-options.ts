/**
 * The options of a response built from a {@link CoapResponse}'s fields (RFC 7252 §5.10).
 */
import { CoapOption } from './codes.js';
import type { CoapOptionValue } from './message.js';
import { option, stringOption, uintOption } from './options.js';
import type { CoapResponse } from './request.js';

/** The options that carry `response`'s fields, followed by its extra options. */
export function responseOptions(response: CoapResponse): CoapOptionValue[] {
  const options: CoapOptionValue[] = [];
  if (response.etag !== undefined) options.push(option(CoapOption.ETag, response.etag));
  if (response.observe !== undefined) options.push(uintOption(CoapOption.Observe, response.observe));
  if (response.locationPath !== undefined)
    for (const segment of response.locationPath) options.push(stringOption(CoapOption.LocationPath, segment));
  if (response.contentFormat !== undefined) options.push(uintOption(CoapOption.ContentFormat, response.contentFormat));
  if (response.maxAge !== undefined) options.push(uintOption(CoapOption.MaxAge, response.maxAge));
  if (response.options !== undefined) for (const o of response.options) options.push(o);
  return options;
}
