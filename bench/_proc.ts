/**
 * What Linux's /proc says about a process, for the benches that compare coraft with etcd: CPU
 * time (utime + stime of /proc/PID/stat, all threads), memory (VmRSS, VmHWM and RssAnon of
 * /proc/PID/status) and block-layer writes (write_bytes of /proc/PID/io, counted when a page is
 * dirtied, mapped pages included; on kernels with large page-cache folios, Linux 6.16+ on ext4,
 * a write into a large folio counts the whole folio, though only the blocks written reach the
 * device) and the bytes handed to write calls (wchar: files, pipes and sockets written with
 * write(2), not datagrams sent with sendmsg), plus the size of a data folder. The parsers are pure and
 * tested (test/bench/proc.test.ts); the readers return null once the process is gone.
 */
import { execFileSync } from 'node:child_process';
import { lstatSync, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** One reading of a process. Bytes are bytes; CPU is seconds of user plus system time. */
export interface ProcessSample {
  readonly cpuSeconds: number;
  /** Resident set now (VmRSS). */
  readonly rssBytes: number;
  /** Highest resident set since the process started (VmHWM). */
  readonly rssPeakBytes: number;
  /** Anonymous resident memory (RssAnon): heap and buffers, not mapped files such as LMDB's. */
  readonly rssAnonBytes: number;
  /** Resident pages of mapped files (RssFile): the node binary, native modules, LMDB's map. */
  readonly rssFileBytes: number;
  /**
   * Bytes the process caused to be written to the block layer (write_bytes minus cancelled_write_bytes); null without
   * task I/O accounting.
   */
  readonly writeBytes: number | null;
  /** Bytes handed to write(2)-family calls (wchar); null without task I/O accounting. */
  readonly writeCallBytes: number | null;
}

/** Clock ticks of /proc/PID/stat fields 14 and 15 (utime, stime); null when the line is not a stat line. */
export function parseStatCpuTicks(line: string): number | null {
  // The command name (field 2) is in parentheses and may itself hold spaces or ')'.
  const close = line.lastIndexOf(')');
  if (close < 0) return null;
  const fields = line
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  // fields[0] is field 3 (state), so utime (14) is fields[11] and stime (15) fields[12].
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (fields.length < 13 || !Number.isSafeInteger(utime) || !Number.isSafeInteger(stime) || utime < 0 || stime < 0)
    return null;
  return utime + stime;
}

/** A `Name:   123 kB` field of /proc/PID/status, in bytes; null when absent. */
export function parseStatusBytes(text: string, field: string): number | null {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(text);
  if (match?.[1] === undefined) return null;
  return Number(match[1]) * 1024;
}

/** The `name: value` lines of /proc/PID/io; a missing or malformed line is left out. */
/**
 * The block device of a file system's device number (stat's `dev`): its major and minor numbers,
 * as Linux's new_encode_dev packs them (major in bits 8-19, minor in bits 0-7 and 20-31).
 */
export function deviceNumbers(dev: number): { readonly major: number; readonly minor: number } {
  const major = Math.floor(dev / 256) % 4096;
  const minor = (dev % 256) + Math.floor(dev / 1_048_576) * 256;
  return { major, minor };
}

/** Bytes written of a /sys/block stat line: its seventh field counts 512-byte sectors written. */
export function parseDiskStatWrittenBytes(text: string): number | null {
  const sectors = Number(text.trim().split(/\s+/)[6]);
  return Number.isSafeInteger(sectors) && sectors >= 0 ? sectors * 512 : null;
}

/**
 * Bytes the block device under `path` has written since boot (all processes); null when the folder
 * is on no block device (tmpfs, overlay) or sysfs is not there. Unlike write_bytes, this is what
 * reached the device: a large page-cache folio counts only the blocks written back.
 */
export function deviceWrittenBytes(path: string): number | null {
  try {
    const { major, minor } = deviceNumbers(statSync(path).dev);
    if (major === 0) return null;
    return parseDiskStatWrittenBytes(readFileSync(`/sys/dev/block/${major}:${minor}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

export function parseIo(text: string): ReadonlyMap<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^(\w+):\s+(\d+)$/.exec(line.trim());
    if (match?.[1] !== undefined && match[2] !== undefined) out.set(match[1], Number(match[2]));
  }
  return out;
}

/** Bytes written to the block layer: write_bytes less what was dirtied then truncated away. */
export function ioWriteBytes(io: ReadonlyMap<string, number>): number | null {
  const written = io.get('write_bytes');
  if (written === undefined) return null;
  return Math.max(0, written - (io.get('cancelled_write_bytes') ?? 0));
}

let ticksCache = 0;

/** USER_HZ, the unit of /proc/PID/stat times (getconf CLK_TCK; 100 on every Linux in use). */
export function clockTicksPerSecond(): number {
  if (ticksCache === 0) {
    try {
      ticksCache = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      // No getconf: Linux's USER_HZ is 100 on every architecture it runs on.
      ticksCache = 100;
    }
  }
  return ticksCache;
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    // The process has exited (or this is not Linux); the caller treats it as gone.
    return null;
  }
}

/** Reads process `pid`; null when it is gone. */
export function readProcess(pid: number): ProcessSample | null {
  const stat = readOrNull(`/proc/${pid}/stat`);
  const status = readOrNull(`/proc/${pid}/status`);
  if (stat === null || status === null) return null;
  const ticks = parseStatCpuTicks(stat);
  if (ticks === null) return null;
  const io = readOrNull(`/proc/${pid}/io`);
  return {
    cpuSeconds: ticks / clockTicksPerSecond(),
    rssBytes: parseStatusBytes(status, 'VmRSS') ?? 0,
    rssPeakBytes: parseStatusBytes(status, 'VmHWM') ?? 0,
    rssAnonBytes: parseStatusBytes(status, 'RssAnon') ?? 0,
    rssFileBytes: parseStatusBytes(status, 'RssFile') ?? 0,
    writeBytes: io === null ? null : ioWriteBytes(parseIo(io)),
    writeCallBytes: io === null ? null : (parseIo(io).get('wchar') ?? null),
  };
}

/**
 * Resident bytes of the mappings in /proc/PID/smaps text whose file name ends with `suffix`
 * (LMDB's data.mdb: '.mdb').
 */
export function parseSmapsRss(text: string, suffix: string): number {
  let bytes = 0;
  let matching = false;
  for (const line of text.split('\n')) {
    const mapping = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (mapping !== null) matching = (mapping[1] ?? '').endsWith(suffix);
    else if (matching) {
      const rss = /^Rss:\s+(\d+) kB$/.exec(line);
      if (rss?.[1] !== undefined) bytes += Number(rss[1]) * 1024;
    }
  }
  return bytes;
}

/** Resident bytes of process `pid`'s mappings of files ending with `suffix`; null when it is gone. */
export function mappedFileBytes(pid: number, suffix: string): number | null {
  const smaps = readOrNull(`/proc/${pid}/smaps`);
  return smaps === null ? null : parseSmapsRss(smaps, suffix);
}

/**
 * Resident bytes of process `pid`'s mappings of its own executable (/proc/PID/exe: node's or
 * etcd's binary); null when it is gone.
 */
export function executableBytes(pid: number): number | null {
  let executable: string;
  try {
    executable = readlinkSync(`/proc/${pid}/exe`);
  } catch {
    // Gone (or not Linux).
    return null;
  }
  return mappedFileBytes(pid, executable);
}

/** Most directory entries walked by folderBytes; a data folder holds a handful. */
const FOLDER_ENTRIES_MAX = 100_000;

/** Allocated (du) and apparent bytes of everything under `path`; zero when it is absent. */
export function folderBytes(path: string): { readonly allocatedBytes: number; readonly apparentBytes: number } {
  let allocatedBytes = 0;
  let apparentBytes = 0;
  const pending = [path];
  for (let seen = 0; pending.length > 0 && seen < FOLDER_ENTRIES_MAX; seen += 1) {
    const at = pending.pop() ?? '';
    let stat;
    try {
      stat = lstatSync(at);
    } catch {
      // Removed while we walk (a WAL segment recycled): it no longer takes space.
      continue;
    }
    allocatedBytes += stat.blocks * 512;
    if (stat.isDirectory()) {
      try {
        for (const name of readdirSync(at)) pending.push(join(at, name));
      } catch {
        // Removed while we walk.
      }
    } else apparentBytes += stat.size;
  }
  return { allocatedBytes, apparentBytes };
}
