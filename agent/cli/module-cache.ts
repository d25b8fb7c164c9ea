/**
 * The V8 code cache of the CommonJS files `coraft agent` loads from node_modules (issue 17: the
 * agent's start-up). The bundle (agent/cli/code-cache.ts) leaves lmdb, cbor-x and what they load
 * (msgpackr, ordered-binary, node-gyp-build's loader, …) to Node.js, because their native add-ons
 * are found beside their own package; Node 20 compiles them again at every start (about 10 % of
 * an agent's start-up CPU). {@link ModuleCache.install} replaces `Module.prototype._compile` until
 * the agent is ready: each such file is compiled through `vm.Script` with the cached data found for
 * it, and run as Node.js runs a CommonJS module (same wrapper, `require`, `module`, `this`).
 *
 * One file holds the data of every module, `coraft-modules.v8cache` beside the bundle's cache:
 * {@link MODULE_CACHE_MAGIC}, the body's length and CRC-32 (a damaged file must not reach V8, which
 * does not check its payload in a release build), then the platform the data was made on
 * ({@link CACHE_PLATFORM}: a file made on another one gives no module its data), then per module
 * its path, the file's size, mtime
 * and ctime (an entry is used only for the very file it was made from: another version of the
 * package, or the same file written again, is compiled afresh), the source's length and V8's data.
 * It is written once the agent is ready, when some module was compiled without data (none, stale,
 * or refused by V8: another Node.js or other V8 flags); a start that used the data of every module
 * writes nothing.
 */
import { statSync } from 'node:fs';
import { Module } from 'node:module';
import { dirname, sep } from 'node:path';
import { Script, constants as vmConstants } from 'node:vm';
import { crc32 } from '../../storage/crc32.js';

/** The first bytes of a module cache file (format version 2: with the platform). */
export const MODULE_CACHE_MAGIC = Buffer.from('coraft-v8-module-cache-2\n', 'latin1');
/**
 * What V8's data is made by and for: the operating system, the CPU architecture and the Node.js
 * (with its V8). V8 itself checks only its version and flags, so data made on another architecture
 * passes its check: an x64 cache copied beside the bundle of an arm64 install crashed node there
 * (SIGSEGV under qemu-aarch64, npm run test:arm). Data made elsewhere is not given to V8.
 */
export const CACHE_PLATFORM = `${process.platform} ${process.arch} node ${process.version}`;
/** The cache file's name in the cache folder. */
export const MODULE_CACHE_FILE = 'coraft-modules.v8cache';
/** The largest cache file read (the agent's measures about 0.4 MB): a bigger file is not ours. */
export const MODULE_CACHE_BYTES_MAX = 16 * 2 ** 20;
/** Most modules one cache file holds (the agent loads about 15); more are compiled without a cache. */
export const MODULE_CACHE_ENTRIES_MAX = 256;
/** The longest path an entry holds, bytes. */
const PATH_BYTES_MAX = 4096;
/** Header: magic, then the body's length and CRC-32 (32-bit big-endian words). */
const HEADER_BYTES = MODULE_CACHE_MAGIC.length + 8;

/** What a module's cached data is for: the file as it was when the data was made. */
export interface ModuleKey {
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  /** The source's length in UTF-16 code units (V8 checks it too). */
  readonly sourceLength: number;
}

/** One module's entry: its key and V8's data. */
export interface ModuleEntry extends ModuleKey {
  readonly data: Uint8Array;
}

/** The cache file holding `entries` (by path). */
export function encodeModuleCache(entries: ReadonlyMap<string, ModuleEntry>, platform = CACHE_PLATFORM): Buffer {
  const made = Buffer.from(platform, 'utf8');
  const parts: Buffer[] = [Buffer.of(made.length), made];
  for (const [path, entry] of entries) {
    const name = Buffer.from(path, 'utf8');
    const head = Buffer.alloc(2 + name.length + 8 * 3 + 8);
    let at = head.writeUInt16BE(name.length, 0);
    at += name.copy(head, at);
    at = head.writeDoubleBE(entry.size, at);
    at = head.writeDoubleBE(entry.mtimeMs, at);
    at = head.writeDoubleBE(entry.ctimeMs, at);
    at = head.writeUInt32BE(entry.sourceLength, at);
    head.writeUInt32BE(entry.data.length, at);
    parts.push(head, Buffer.from(entry.data.buffer, entry.data.byteOffset, entry.data.length));
  }
  const body = Buffer.concat(parts);
  const header = Buffer.alloc(HEADER_BYTES);
  MODULE_CACHE_MAGIC.copy(header);
  header.writeUInt32BE(body.length, MODULE_CACHE_MAGIC.length);
  header.writeUInt32BE(crc32(body), MODULE_CACHE_MAGIC.length + 4);
  return Buffer.concat([header, body]);
}

/**
 * The entries of the cache file `file`; 'invalid' when it is not one whole module cache file, none
 * when it was made on another platform than `platform`.
 */
export function decodeModuleCache(file: Buffer, platform = CACHE_PLATFORM): Map<string, ModuleEntry> | 'invalid' {
  if (file.length < HEADER_BYTES || file.length > MODULE_CACHE_BYTES_MAX) return 'invalid';
  if (!file.subarray(0, MODULE_CACHE_MAGIC.length).equals(MODULE_CACHE_MAGIC)) return 'invalid';
  const body = file.subarray(HEADER_BYTES);
  if (file.readUInt32BE(MODULE_CACHE_MAGIC.length) !== body.length) return 'invalid';
  if (file.readUInt32BE(MODULE_CACHE_MAGIC.length + 4) !== crc32(body)) return 'invalid';
  const entries = new Map<string, ModuleEntry>();
  const madeEnd = 1 + (body[0] ?? 0);
  if (madeEnd > body.length) return 'invalid';
  if (body.toString('utf8', 1, madeEnd) !== platform) return entries;
  for (let at = madeEnd; at < body.length;) {
    if (entries.size >= MODULE_CACHE_ENTRIES_MAX || at + 2 > body.length) return 'invalid';
    const nameBytes = body.readUInt16BE(at);
    const fixed = at + 2 + nameBytes;
    if (nameBytes > PATH_BYTES_MAX || fixed + 32 > body.length) return 'invalid';
    const path = body.toString('utf8', at + 2, fixed);
    const dataBytes = body.readUInt32BE(fixed + 28);
    if (fixed + 32 + dataBytes > body.length) return 'invalid';
    entries.set(path, {
      size: body.readDoubleBE(fixed),
      mtimeMs: body.readDoubleBE(fixed + 8),
      ctimeMs: body.readDoubleBE(fixed + 16),
      sourceLength: body.readUInt32BE(fixed + 24),
      data: body.subarray(fixed + 32, fixed + 32 + dataBytes),
    });
    at = fixed + 32 + dataBytes;
  }
  return entries;
}

/** How the modules of this start were compiled (reported with "agent ready", `moduleCache`). */
export interface ModuleCacheCounts {
  /** What became of the cache file: 'read', or why nothing was read. */
  readonly file: 'read' | 'missing' | 'invalid';
  /** Modules compiled with their cached data, V8 accepting it. */
  readonly used: number;
  /** Modules compiled without data: none in the file, or made from another version of the file. */
  readonly compiled: number;
  /** Modules whose data V8 refused (another Node.js, other V8 flags). */
  readonly rejected: number;
}

type Compile = (this: Module, content: string, filename: string, format?: string) => unknown;

/** Node's own `require` of `module` (what its makeRequireFunction gives a CommonJS module). */
function requireOf(module: Module): NodeJS.Require {
  const Loader = Module as unknown as {
    _resolveFilename(request: string, parent: Module, isMain: boolean, options?: unknown): string;
    _resolveLookupPaths(request: string, parent: Module): string[] | null;
    _extensions: NodeJS.RequireExtensions;
    _cache: NodeJS.Dict<NodeJS.Module>;
  };
  const require = ((id: string): unknown => module.require(id)) as NodeJS.Require;
  const resolve = ((request: string, options?: unknown): string =>
    Loader._resolveFilename(request, module, false, options)) as NodeJS.RequireResolve;
  resolve.paths = (request: string) => Loader._resolveLookupPaths(request, module);
  require.resolve = resolve;
  require.main = process.mainModule;
  require.extensions = Loader._extensions;
  require.cache = Loader._cache;
  return require;
}

/** A module compiled while the hook was in place: what writing its cache needs. */
interface Compiled {
  readonly key: ModuleKey;
  readonly script: Script;
}

/** The module cache of one start: install it before the bundle runs, `finish` it once the agent is ready. */
export class ModuleCache {
  private readonly entries: ReadonlyMap<string, ModuleEntry>;
  private readonly fileState: ModuleCacheCounts['file'];
  private readonly compiled = new Map<string, Compiled>();
  private used = 0;
  private fresh = 0;
  private rejected = 0;
  private original: Compile | null = null;

  /** @param file the cache file's bytes, or null when there is none. */
  constructor(file: Buffer | null) {
    const decoded = file === null ? 'missing' : decodeModuleCache(file);
    this.fileState = typeof decoded === 'string' ? decoded : 'read';
    this.entries = typeof decoded === 'string' ? new Map() : decoded;
  }

  /** Replaces `Module.prototype._compile` for the CommonJS files under node_modules until {@link finish}. */
  install(): void {
    if (this.original !== null) return;
    const original = Reflect.get(Module.prototype, '_compile') as Compile;
    this.original = original;
    const cached = (module: Module, content: string, filename: string, format?: string): unknown =>
      this.original === null
        ? Reflect.apply(original, module, [content, filename, format])
        : this.run(module, content, filename, original, format);
    const compile: Compile = function (this: Module, content, filename, format) {
      // ES modules, and files outside node_modules (a test's, the CLI's), are Node's own business.
      if (format === 'module' || !filename.includes(`${sep}node_modules${sep}`))
        return Reflect.apply(original, this, [content, filename, format]);
      return cached(this, content, filename, format);
    };
    Reflect.set(Module.prototype, '_compile', compile);
  }

  /** What happened so far. */
  counts(): ModuleCacheCounts {
    return { file: this.fileState, used: this.used, compiled: this.fresh, rejected: this.rejected };
  }

  /**
   * Puts Node's `_compile` back and returns the cache file to write, or null when every module
   * used its data (nothing to write). Called once the agent is ready: the data then holds every
   * function its start ran.
   */
  finish(): Buffer | null {
    if (this.original !== null) Reflect.set(Module.prototype, '_compile', this.original);
    this.original = null;
    const due = this.fresh > 0 || this.rejected > 0 || (this.fileState === 'invalid' && this.compiled.size > 0);
    const compiled = [...this.compiled];
    this.compiled.clear();
    if (!due) return null;
    const entries = new Map<string, ModuleEntry>();
    for (const [path, { key, script }] of compiled.slice(0, MODULE_CACHE_ENTRIES_MAX))
      if (Buffer.byteLength(path) <= PATH_BYTES_MAX) entries.set(path, { ...key, data: script.createCachedData() });
    return encodeModuleCache(entries);
  }

  /** Compiles and runs the CommonJS module `module` (the file `filename`, text `content`) with its cached data. */
  private run(module: Module, content: string, filename: string, original: Compile, format?: string): unknown {
    let key: ModuleKey;
    try {
      const stat = statSync(filename);
      key = { size: stat.size, mtimeMs: stat.mtimeMs, ctimeMs: stat.ctimeMs, sourceLength: content.length };
    } catch {
      // Not a file on disk: leave it to Node.
      return Reflect.apply(original, module, [content, filename, format]);
    }
    const entry = this.entries.get(filename);
    const fits =
      entry !== undefined &&
      entry.size === key.size &&
      entry.mtimeMs === key.mtimeMs &&
      entry.ctimeMs === key.ctimeMs &&
      entry.sourceLength === key.sourceLength;
    let script: Script;
    try {
      script = new Script(Module.wrap(content), {
        filename,
        ...(fits ? { cachedData: entry.data } : {}),
        // import() inside the module resolves as in any CommonJS module Node.js compiles.
        importModuleDynamically: vmConstants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
      });
    } catch {
      // A syntax error (or ES module syntax Node may detect): Node's own compile reports it as it would.
      return Reflect.apply(original, module, [content, filename, format]);
    }
    // Used only when V8 says it took the data (false); true, or no answer, is a refusal.
    if (!fits) this.fresh += 1;
    else if (script.cachedDataRejected === false) this.used += 1;
    else this.rejected += 1;
    if (this.compiled.size < MODULE_CACHE_ENTRIES_MAX) this.compiled.set(filename, { key, script });
    const wrapper: unknown = script.runInThisContext({ displayErrors: true });
    if (typeof wrapper !== 'function') throw new TypeError(`${filename} did not compile to a module function`);
    return Reflect.apply(wrapper, module.exports, [
      module.exports,
      requireOf(module),
      module,
      filename,
      dirname(filename),
    ]);
  }
}
