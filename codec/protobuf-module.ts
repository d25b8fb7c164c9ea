/**
 * protobufjs, loaded when the first protobuf serializer is made rather than when the codec is
 * imported. It is an optional peer dependency (package.json): a production install leaves it out
 * (4 MB), since only nodes configured with `codec: "protobuf"` need it. Without it, making a
 * protobuf serializer throws a ConfigError that says what to install, so the node stops at
 * start-up with EX_CONFIG instead of failing on its first message.
 *
 * The load is a synchronous require (protobufjs is a CommonJS package): the serializer factory
 * (createSerializer, AgentFactories.createSerializer) is synchronous.
 */
import { createRequire } from 'node:module';
import type * as Protobuf from 'protobufjs';
import { ConfigError, isPackageMissing } from '../contracts/errors.js';

/** The protobufjs module. */
export type ProtobufModule = typeof Protobuf;

/** The package, and how an operator installs it beside coraft. */
export const PROTOBUF_PACKAGE = 'protobufjs';
const INSTALL_HINT =
  `codec: "protobuf" needs the optional package ${PROTOBUF_PACKAGE}, which is not installed: ` +
  `install protobufjs to use codec protobuf (npm install protobufjs@8 in the folder coraft is installed in), ` +
  `or choose codec "cbor" or "json"`;

const require = createRequire(import.meta.url);

function isProtobufModule(value: unknown): value is ProtobufModule {
  if (typeof value !== 'object' || value === null) return false;
  return ['parse', 'Reader', 'Type', 'Root'].every((name) => typeof Reflect.get(value, name) === 'function');
}

/**
 * Loads protobufjs through `load` (a require of it). Throws ConfigError when it is not installed, and
 * rethrows any other failure (a broken install is not a missing one).
 */
export function requireProtobuf(load: () => unknown): ProtobufModule {
  let loaded: unknown;
  try {
    loaded = load();
  } catch (error) {
    if (isPackageMissing(error, PROTOBUF_PACKAGE)) throw new ConfigError([INSTALL_HINT]);
    throw error;
  }
  if (!isProtobufModule(loaded))
    throw new ConfigError([`codec: the installed ${PROTOBUF_PACKAGE} does not export parse, Reader, Type and Root`]);
  return loaded;
}

let cached: ProtobufModule | null = null;

/** protobufjs, loaded on the first call (see requireProtobuf for the errors). */
export function loadProtobuf(): ProtobufModule {
  cached ??= requireProtobuf(() => require('protobufjs'));
  return cached;
}
