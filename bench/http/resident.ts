// The memory a group of processes holds, each physical page counted once.
//
// Summing RSS counts twice what processes share: `npm start` is npm's node
// and the server's node, and both map the same 40-odd MB of the node binary
// (one copy in memory). As root, /proc/PID/pagemap tells each resident page's
// frame number; the union of frames over the processes is what they occupy.
// Only mappings with resident pages (from smaps) are read, so the 10 GB that
// WebAssembly reserves costs nothing.
import { open, readFile } from 'node:fs/promises';

const PAGE = 4096;
const PRESENT = 1n << 63n;
const PFN_MASK = (1n << 55n) - 1n;

/** Virtual ranges of `pid` that have resident pages. */
async function residentRanges(pid: number): Promise<[number, number][]> {
  const ranges: [number, number][] = [];
  let current: [number, number] | undefined;
  for (const line of (await readFile(`/proc/${pid}/smaps`, 'utf8')).split('\n')) {
    const range = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (range) current = [Number.parseInt(range[1] as string, 16), Number.parseInt(range[2] as string, 16)];
    else if (current && line.startsWith('Rss:') && !/^Rss:\s+0 kB/.test(line)) ranges.push(current);
  }
  return ranges;
}

/** Adds the frame numbers of `pid`'s resident pages to `frames`. */
async function addFrames(pid: number, frames: Set<bigint>): Promise<void> {
  const ranges = await residentRanges(pid);
  const pagemap = await open(`/proc/${pid}/pagemap`, 'r');
  try {
    for (const [start, end] of ranges) {
      const pages = (end - start) / PAGE;
      const buffer = Buffer.alloc(pages * 8);
      await pagemap.read(buffer, 0, buffer.length, (start / PAGE) * 8);
      for (let i = 0; i < pages; i++) {
        const entry = buffer.readBigUInt64LE(i * 8);
        if (entry & PRESENT) frames.add(entry & PFN_MASK);
      }
    }
  } finally {
    await pagemap.close();
  }
}

/**
 * Bytes resident in all of `pids`, shared pages once; undefined when the
 * frame numbers are hidden (not root: the kernel then reports them as 0).
 */
export async function residentBytes(pids: number[]): Promise<number | undefined> {
  const frames = new Set<bigint>();
  for (const pid of pids) await addFrames(pid, frames).catch(() => undefined);
  if (frames.size === 1 && frames.has(0n)) return undefined;
  return frames.size * PAGE;
}
