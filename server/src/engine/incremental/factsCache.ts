import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import type { ModuleFacts } from '../facts';

/**
 * Per-file facts kept on disk between editor sessions, so that a restart re-parses only the
 * files that changed since. One file per workspace root in the cache folder, valid for one
 * build of the engine (its bundle's size and time) and one V8 (the serialisation format);
 * each entry is valid while its file's size and modification time are the same.
 *
 * Written in small steps when the server is idle (one file's facts serialised per step).
 */

interface Entry {
  abs: string;
  mtimeMs: number;
  size: number;
  facts: ModuleFacts;
}

export interface CachedFacts {
  mtimeMs: number;
  size: number;
  facts: ModuleFacts;
}

const MAGIC = 'fastapi-lens-facts-2';

/** What invalidates every entry: this build of the code and the V8 serialisation format. */
export function engineBuildKey(): string {
  let code: string;
  try {
    const st = fs.statSync(__filename);
    code = `${st.size}:${st.mtimeMs}`;
  } catch {
    code = 'unknown';
  }
  return `${MAGIC}|${code}|${process.versions.v8}`;
}

export class FactsCache {
  readonly file: string;
  private readonly key = engineBuildKey();
  private writing: NodeJS.Timeout | null = null;
  private pending: (() => Entry[]) | null = null;

  constructor(dir: string, root: string) {
    const id = createHash('sha1').update(root).digest('hex').slice(0, 16);
    this.file = path.join(dir, `${id}.bin`);
  }

  /** Entries by absolute path, or an empty map when there is no valid cache. */
  load(): Map<string, CachedFacts> {
    const out = new Map<string, CachedFacts>();
    let buf: Buffer;
    try {
      buf = fs.readFileSync(this.file);
    } catch {
      return out;
    }
    try {
      let at = 0;
      const next = (): Buffer => {
        const n = buf.readUInt32LE(at);
        const part = buf.subarray(at + 4, at + 4 + n);
        at += 4 + n;
        return part;
      };
      if (next().toString('utf8') !== this.key) return out;
      while (at < buf.length) {
        const header = JSON.parse(next().toString('utf8')) as {
          abs: string;
          mtimeMs: number;
          size: number;
        };
        const facts = v8.deserialize(next()) as ModuleFacts;
        out.set(header.abs, { mtimeMs: header.mtimeMs, size: header.size, facts });
      }
    } catch {
      out.clear();
    }
    return out;
  }

  /** Write now (synchronously) if a background write is pending; e.g. at shutdown. */
  flush(): void {
    if (!this.writing || !this.pending) return;
    clearTimeout(this.writing);
    this.writing = null;
    const list = this.pending();
    this.pending = null;
    const parts: Buffer[] = [];
    const push = (b: Buffer) => {
      const len = Buffer.alloc(4);
      len.writeUInt32LE(b.length);
      parts.push(len, b);
    };
    push(Buffer.from(this.key, 'utf8'));
    for (const e of list) {
      push(Buffer.from(JSON.stringify({ abs: e.abs, mtimeMs: e.mtimeMs, size: e.size })));
      push(v8.serialize(e.facts));
    }
    try {
      fs.mkdirSync(path.dirname(this.file), { recursive: true });
      fs.writeFileSync(this.file, Buffer.concat(parts));
    } catch {
      // A cache that cannot be written is no cache.
    }
  }

  /**
   * Write entries in the background: one file serialised per event-loop turn, then one write.
   * A newer call replaces a pending one.
   */
  saveSoon(entries: () => Entry[], delayMs = 2000): void {
    if (this.writing) clearTimeout(this.writing);
    this.pending = entries;
    this.writing = setTimeout(() => {
      this.writing = null;
      this.pending = null;
      const list = entries();
      const parts: Buffer[] = [];
      const push = (b: Buffer) => {
        const len = Buffer.alloc(4);
        len.writeUInt32LE(b.length);
        parts.push(len, b);
      };
      push(Buffer.from(this.key, 'utf8'));
      let i = 0;
      const step = () => {
        const until = performance.now() + 4;
        for (; i < list.length && performance.now() < until; i++) {
          const e = list[i];
          push(Buffer.from(JSON.stringify({ abs: e.abs, mtimeMs: e.mtimeMs, size: e.size })));
          push(v8.serialize(e.facts));
        }
        if (i < list.length) {
          setImmediate(step);
          return;
        }
        const tmp = `${this.file}.${process.pid}.tmp`;
        fs.promises
          .mkdir(path.dirname(this.file), { recursive: true })
          .then(() => fs.promises.writeFile(tmp, Buffer.concat(parts)))
          .then(() => fs.promises.rename(tmp, this.file))
          .then(() => prune(path.dirname(this.file)))
          .catch(() => fs.promises.rm(tmp, { force: true }).catch(() => undefined));
      };
      step();
    }, delayMs);
    this.writing.unref?.();
  }
}

/** Keep the cache folder small: the most recently written workspaces only. */
const KEEP = 32;

/** Remove all but the KEEP most recently written files of `dir` ending in `suffix`. */
export async function prune(dir: string, suffix = '.bin'): Promise<void> {
  const names = (await fs.promises.readdir(dir)).filter((n) => n.endsWith(suffix));
  if (names.length <= KEEP) return;
  const stats = await Promise.all(
    names.map(async (n) => ({ n, t: (await fs.promises.stat(path.join(dir, n))).mtimeMs })),
  );
  stats.sort((a, b) => b.t - a.t);
  for (const { n } of stats.slice(KEEP)) await fs.promises.rm(path.join(dir, n), { force: true });
}
