/**
 * Runs the bundled CLI (dist/bundle/coraft.cjs) with a V8 code cache for `coraft agent` (issue 17:
 * the agent's start-up). Node.js 20 has no module compile cache, so the loader compiles the
 * CommonJS bundle itself through `vm.Script` with `cachedData`: V8 then skips parsing and
 * compiling what the cache holds, the bundle's top level and every function the previous start
 * ran. Built by deploy/build-bundle.ts into dist/bundle/loader.cjs, which bin/coraft.js requires.
 *
 * The cache is written once: after the agent's first start (when its state is loaded and its
 * ports are open, so it holds the code of the whole start-up path), and again only when the file
 * is missing, damaged, made for another bundle, or refused by V8 (another Node.js, or other V8
 * flags: NODE_OPTIONS changed). A start that uses the cache writes nothing. Where it goes:
 * `$CORAFT_CODE_CACHE` (a folder, or `off`), else systemd's `$CACHE_DIRECTORY` (the unit's
 * CacheDirectory=coraft, /var/cache/coraft), else beside the bundle; a folder the agent cannot
 * write to only means no cache. The other commands run the bundle without a cache.
 *
 * The file: {@link CACHE_MAGIC}, the bundle's length and its CRC-32 after the platform's
 * ({@link CACHE_PLATFORM}: the cache is for this bundle on this platform only; V8 itself checks the
 * source's length, not its text, and its own version and flags, not the CPU), the data's CRC-32 (V8 does not check its
 * payload in a release build, and a damaged file must not reach it), then V8's data.
 */
import { isAscii } from 'node:buffer';
import { closeSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { Module, createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { Script } from 'node:vm';
import { crc32 } from '../../storage/crc32.js';
import { CACHE_PLATFORM, MODULE_CACHE_BYTES_MAX, MODULE_CACHE_FILE, ModuleCache } from './module-cache.js';
import type { ModuleCacheCounts } from './module-cache.js';
import { applyAgentV8Flags } from '../runtime/v8-flags.js';

/** The first bytes of a cache file (format version 1). */
export const CACHE_MAGIC = Buffer.from('coraft-v8-code-cache-1\n', 'latin1');
/** The header: magic, the source's length and CRC-32, the data's CRC-32 (each a 32-bit big-endian word). */
const HEADER_BYTES = CACHE_MAGIC.length + 12;
/** The largest cache file read (the agent's measures 0.9 MB): a bigger file is not ours. */
export const CACHE_BYTES_MAX = 16 * 2 ** 20;
/** The cache file's name in its folder. */
export const CACHE_FILE = 'coraft-agent.v8cache';

/** What became of the cache at this start; the agent logs it with "agent ready" (`codeCache`). */
export type CodeCacheState = 'used' | 'missing' | 'invalid' | 'stale' | 'rejected' | 'off';

/** What the CLI gets from the loader: the cache's state, and the call that writes it when due. */
export interface CodeCacheHooks {
  readonly codeCache: CodeCacheState;
  /** Writes the cache when this start did not use one (once; a no-op otherwise). Never throws. */
  readonly afterReady: () => void;
  /**
   * How the CommonJS files of node_modules were compiled so far (agent/cli/module-cache.ts); absent
   * when the cache is off. The agent logs it with "agent ready" (`moduleCacheFile`, `moduleCacheUsed`, …).
   */
  readonly moduleCache?: () => ModuleCacheCounts;
}

/** The bundle's exports that the loader calls. */
interface CliBundle {
  readonly runCli: (args: readonly string[], hooks?: CodeCacheHooks) => void;
}

function isCliBundle(value: unknown): value is CliBundle {
  return typeof value === 'object' && value !== null && typeof Reflect.get(value, 'runCli') === 'function';
}

/** The bundle's exports, checked. */
function cliBundle(exported: unknown, bundlePath: string): CliBundle {
  if (!isCliBundle(exported)) throw new TypeError(`${bundlePath} does not export runCli: rebuild it (npm run build)`);
  return exported;
}

/** What a cache file is made for: the bundle's length in bytes and its CRC-32. */
export type SourceKey = readonly [length: number, crc: number];

/** The key of the bundle whose UTF-8 bytes are `bytes`, on `platform`. */
function keyOfBytes(bytes: Uint8Array, platform = CACHE_PLATFORM): SourceKey {
  return [bytes.length, crc32(bytes, crc32(Buffer.from(platform, 'utf8')))];
}

/** The key of `source` on `platform`, given as text or already as its key. */
function keyOf(source: string | SourceKey, platform?: string): SourceKey {
  return typeof source === 'string' ? keyOfBytes(Buffer.from(source, 'utf8'), platform) : source;
}

/** The header of the cache file for the bundle `source` holding V8's `data`. */
function cacheHeader(source: string | SourceKey, data: Uint8Array, platform?: string): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  CACHE_MAGIC.copy(header);
  const [length, crc] = keyOf(source, platform);
  header.writeUInt32BE(length, CACHE_MAGIC.length);
  header.writeUInt32BE(crc, CACHE_MAGIC.length + 4);
  header.writeUInt32BE(crc32(data), CACHE_MAGIC.length + 8);
  return header;
}

/** The cache file for `source` (the bundle's text, or its key) on `platform` (this one's if absent) holding `data`. */
export function encodeCacheFile(source: string | SourceKey, data: Buffer, platform?: string): Buffer {
  return Buffer.concat([cacheHeader(source, data, platform), data]);
}

/**
 * V8's data out of the cache file `file` when it is whole and made for `source` (the bundle's
 * text, or its key) on this platform; 'invalid' when it is not a whole cache file, 'stale' when it is
 * one for another bundle or made on another platform.
 */
export function decodeCacheFile(file: Buffer, source: string | SourceKey): Buffer | 'invalid' | 'stale' {
  if (file.length <= HEADER_BYTES || !file.subarray(0, CACHE_MAGIC.length).equals(CACHE_MAGIC)) return 'invalid';
  const data = file.subarray(HEADER_BYTES);
  if (file.readUInt32BE(CACHE_MAGIC.length + 8) !== crc32(data)) return 'invalid';
  const [length, crc] = keyOf(source);
  const made = [file.readUInt32BE(CACHE_MAGIC.length), file.readUInt32BE(CACHE_MAGIC.length + 4)];
  return made[0] === length && made[1] === crc ? data : 'stale';
}

/** The folder of the cache: see the module's comment. Null when the cache is off. */
export function cacheFolder(env: NodeJS.ProcessEnv, bundlePath: string): string | null {
  const chosen = env.CORAFT_CODE_CACHE;
  if (chosen === 'off') return null;
  if (chosen !== undefined && chosen !== '') return chosen;
  // systemd may list several folders, separated by colons; the first is the unit's own.
  const systemd = env.CACHE_DIRECTORY?.split(':')[0];
  return systemd !== undefined && systemd !== '' ? systemd : dirname(bundlePath);
}

/**
 * Reads the cache file at `path`: its bytes, or null when there is none (or it cannot be read); a
 * file over `bytesMax` comes back empty (invalid, so it is written again).
 */
function readCache(path: string, bytesMax: number): Buffer | null {
  try {
    const file = readFileSync(path);
    return file.length <= bytesMax ? file : Buffer.alloc(0);
  } catch {
    return null;
  }
}

/**
 * Writes `parts`, one after the other, to `path` whole or not at all (a temporary file renamed
 * over it). Written part by part: one concatenated copy would be another megabyte for the
 * garbage collector to find (issue 17: the first start's memory at rest).
 */
function writeWhole(path: string, parts: readonly Uint8Array[]): void {
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    const fd = openSync(temporary, 'w', 0o600);
    try {
      for (const part of parts) for (let done = 0; done < part.length;) done += writeSync(fd, part, done);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
  } catch {
    // A read-only or full folder means only that the next start compiles again.
    try {
      unlinkSync(temporary);
    } catch {
      // Nothing was created.
    }
  }
}

/** Compiles the CommonJS file `bundlePath` with `cachedData` and runs its top level; returns the script and exports. */
function compileBundle(
  bundlePath: string,
  source: string,
  cachedData: Buffer | undefined,
): { readonly script: Script; readonly bundle: CliBundle } {
  const script = new Script(Module.wrap(source), {
    filename: bundlePath,
    ...(cachedData === undefined ? {} : { cachedData }),
  });
  const wrapper: unknown = script.runInThisContext();
  if (typeof wrapper !== 'function') throw new TypeError(`${bundlePath} did not compile to a module function`);
  const module: { exports: unknown } = { exports: {} };
  Reflect.apply(wrapper, module.exports, [
    module.exports,
    createRequire(bundlePath),
    module,
    bundlePath,
    dirname(bundlePath),
  ]);
  return { script, bundle: cliBundle(module.exports, bundlePath) };
}

/** What the cache file gave: V8's data to try, or why there is none. */
function cachedDataFor(cachePath: string | null, key: SourceKey): Buffer | Exclude<CodeCacheState, 'used'> {
  if (cachePath === null) return 'off';
  const file = readCache(cachePath, CACHE_BYTES_MAX);
  return file === null ? 'missing' : decodeCacheFile(file, key);
}

/**
 * The text of the bundle's bytes. esbuild writes it in ASCII (non-ASCII characters escaped), which
 * reads as Latin-1 in a plain copy, several times faster than UTF-8 decoding (2-4 ms of each start
 * for the 1.3 MB bundle); a bundle that is not ASCII is decoded as UTF-8.
 */
function bundleText(bytes: Buffer): string {
  return bytes.toString(isAscii(bytes) ? 'latin1' : 'utf8');
}

/**
 * Tells msgpackr not to load its native extractor (unless the operator said otherwise): lmdb loads
 * msgpackr for its default value encoding, but coraft opens every LMDB database with
 * `encoding: 'binary'` (storage/lmdb/lmdb-open.ts), so msgpackr never decodes a value here. Its
 * extractor would only cost each start a search for its native build, its own copy of
 * node-gyp-build's loader and a shared library mapped for the agent's life (issue 17).
 */
export function skipMsgpackrExtractor(env: NodeJS.ProcessEnv): void {
  env.MSGPACKR_NATIVE_ACCELERATION_DISABLED ??= 'true';
}

/**
 * Tells cbor-x not to load its native string extractor in the agent (unless the operator said
 * otherwise): its search for the native build and the library mapped for the agent's life cost
 * each start about 1.5 ms (require('cbor-x') after lmdb: best of six processes 2.92 ms without,
 * 4.45 ms with; issue 17), and it does not pay for itself here: decoding the peers' messages, the
 * agent's main use of cbor-x, took the same time without it (AppendEntries of 64 entries of 256 B
 * or 4 KiB, one entry, a heartbeat: 6.41 / 6.31 / 0.35 / 0.22 us without, 6.37 / 6.65 / 0.32 /
 * 0.22 us with, the best of six processes each). The KV writes' own bytes are read without cbor-x
 * (agent/kv/put-decode.ts).
 */
export function skipCborExtractor(env: NodeJS.ProcessEnv): void {
  env.CBOR_NATIVE_ACCELERATION_DISABLED ??= 'true';
}

/** What writing the cache needs once the agent is ready: where, the bundle's key and its compiled script. */
interface PendingWrite {
  readonly path: string;
  readonly key: SourceKey;
  readonly script: Script;
}

/**
 * Runs `coraft args` from the bundle at `bundlePath`; `coraft agent` with the code cache (see the
 * module's comment), every other command without it.
 */
export function startCli(bundlePath: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): void {
  skipMsgpackrExtractor(process.env);
  if (args[0] !== 'agent') {
    cliBundle(createRequire(bundlePath)(bundlePath), bundlePath).runCli(args);
    return;
  }
  skipCborExtractor(process.env);
  // Before the bundle is compiled: V8 refuses a code cache made under other flags, so the cache
  // read here and the one written after the start must both be made with the agent's own flags.
  applyAgentV8Flags(setFlagsFromString);
  const folder = cacheFolder(env, bundlePath);
  // Before the bundle runs: it loads lmdb and cbor-x, and they what they need.
  const modules =
    folder === null ? null : new ModuleCache(readCache(join(folder, MODULE_CACHE_FILE), MODULE_CACHE_BYTES_MAX));
  modules?.install();
  // Read once: the key comes from these bytes, the text V8 compiles from them.
  const bytes = readFileSync(bundlePath);
  const key = keyOfBytes(bytes);
  const cachePath = folder === null ? null : join(folder, CACHE_FILE);
  const found = cachedDataFor(cachePath, key);
  const { script, bundle } = compileBundle(
    bundlePath,
    bundleText(bytes),
    typeof found === 'string' ? undefined : found,
  );
  const state: CodeCacheState = typeof found === 'string' ? found : script.cachedDataRejected ? 'rejected' : 'used';
  // What the write needs, held only until it is done: the key, not the bundle's text (1.3 MB the
  // agent would otherwise keep until a full collection; V8 holds its own copy, the wrapped text).
  let pending: PendingWrite | null = cachePath !== null && state !== 'used' ? { path: cachePath, key, script } : null;
  let modulesPending = modules;
  bundle.runCli(args, {
    codeCache: state,
    ...(modules === null ? {} : { moduleCache: () => modules.counts() }),
    afterReady: () => {
      if (modulesPending !== null && folder !== null) {
        const done = modulesPending;
        modulesPending = null;
        try {
          const file = done.finish();
          if (file !== null) writeWhole(join(folder, MODULE_CACHE_FILE), [file]);
        } catch {
          // V8 could not serialize a module's code: the next start compiles it again, nothing worse.
        }
      }
      if (pending === null) return;
      const { path, key: made, script: compiled } = pending;
      pending = null;
      const data = compiled.createCachedData();
      writeWhole(path, [cacheHeader(made, data), data]);
    },
  });
}
