import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Diagnostic } from 'vscode-languageserver/node';
import { prune } from '../engine/incremental/factsCache';
import type { LensSettings } from '../protocol';

/**
 * The diagnostics a folder last published, kept on disk for the next start of the server.
 *
 * A restart in an unchanged workspace publishes them as soon as the files are discovered, before
 * any facts are read or rules run: the load that follows computes the same diagnostics (same
 * inputs, same engine) and sends only what differs, which is nothing. The key covers what the
 * diagnostics are made of: the engine build and every analysed file's size and modification
 * time (EngineSession's inputs key), the folder's settings, and the configuration files that can
 * apply to those files. Anything else that changed (rare: a file rewritten with the same size
 * within the same millisecond) shows until the load's own diagnostics replace it.
 */

export interface SnapshotFile {
  abs: string;
  /** What the diagnostics were made of (diagnostics.ts fileDiagnostics). */
  key: string;
  diagnostics: Diagnostic[];
}

export interface SnapshotData {
  key: string;
  /** The files whose diagnostics are known: null = every file (workspace scope). */
  covered: string[] | null;
  /** Documents open when it was written: an editor restores them, so they are sent first. */
  open?: string[];
  /** Files with diagnostics (a covered file not listed has none). */
  files: SnapshotFile[];
}

const FORMAT = 'fastapi-lens-diagnostics-1';
const SUFFIX = '.diagnostics.json';

/** Files that configure the analysis of a file in their folder or below. */
const CONFIG_FILES = ['pyproject.toml', 'setup.cfg'];

/**
 * The key of a folder's diagnostics: the engine's inputs key, the settings, and the size and
 * time of every configuration file (present or not) in the folders of `files` up to `root`.
 */
export function snapshotKey(
  root: string,
  inputs: string,
  settings: LensSettings,
  files: Iterable<string>,
): string {
  const dirs = new Set<string>();
  for (const abs of files) {
    for (let d = path.dirname(abs); !dirs.has(d); d = path.dirname(d)) {
      dirs.add(d);
      if (d === root || path.dirname(d) === d || !d.startsWith(root)) break;
    }
  }
  const hash = createHash('sha1').update(`${FORMAT}\n${inputs}\n${JSON.stringify(settings)}\n`);
  for (const d of [...dirs].sort())
    for (const name of CONFIG_FILES) {
      let st: fs.Stats | undefined;
      try {
        st = fs.statSync(path.join(d, name));
      } catch {
        st = undefined;
      }
      if (st) hash.update(`${d}/${name}\0${st.mtimeMs}:${st.size}\n`);
    }
  return hash.digest('hex');
}

export class DiagnosticsSnapshot {
  readonly file: string;
  private writing: NodeJS.Timeout | null = null;
  private pending: (() => SnapshotData | null) | null = null;

  constructor(dir: string, root: string) {
    const id = createHash('sha1').update(root).digest('hex').slice(0, 16);
    this.file = path.join(dir, `${id}${SUFFIX}`);
  }

  /** The snapshot when it was written under `key`; null otherwise (or unreadable). */
  read(key: string): SnapshotData | null {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch {
      return null;
    }
    // The key is the first line: a stale snapshot is not parsed.
    const nl = text.indexOf('\n');
    if (nl < 0 || text.slice(0, nl) !== key) return null;
    try {
      const data = JSON.parse(text.slice(nl + 1)) as SnapshotData;
      if (data.key !== key || !Array.isArray(data.files)) return null;
      return data;
    } catch {
      return null;
    }
  }

  /**
   * Write the snapshot `make` returns (null: nothing to write) after `delayMs` without another
   * call: the latest published state, once the server is idle.
   */
  saveSoon(make: () => SnapshotData | null, delayMs = 2000): void {
    this.cancel();
    this.pending = make;
    this.writing = setTimeout(() => {
      this.writing = null;
      this.pending = null;
      const data = built(make);
      if (!data) return;
      const tmp = `${this.file}.${process.pid}.tmp`;
      fs.promises
        .mkdir(path.dirname(this.file), { recursive: true })
        .then(() => fs.promises.writeFile(tmp, serialise(data)))
        .then(() => fs.promises.rename(tmp, this.file))
        .then(() => prune(path.dirname(this.file), SUFFIX))
        .catch(() => fs.promises.rm(tmp, { force: true }).catch(() => undefined));
    }, delayMs);
    this.writing.unref?.();
  }

  /** Write a pending snapshot now (synchronously): at shutdown, the next start may be near. */
  flush(): void {
    const make = this.pending;
    this.cancel();
    const data = make && built(make);
    if (!data) return;
    const tmp = `${this.file}.${process.pid}.tmp`;
    try {
      fs.mkdirSync(path.dirname(this.file), { recursive: true });
      fs.writeFileSync(tmp, serialise(data));
      fs.renameSync(tmp, this.file);
    } catch {
      fs.rmSync(tmp, { force: true });
    }
  }

  /** Forget a pending write (the state it would save is no longer current). */
  cancel(): void {
    if (this.writing) clearTimeout(this.writing);
    this.writing = null;
    this.pending = null;
  }
}

function built(make: () => SnapshotData | null): SnapshotData | null {
  try {
    return make();
  } catch {
    return null;
  }
}

/** The key on the first line (read compares it before parsing), then the data. */
function serialise(data: SnapshotData): string {
  return `${data.key}\n${JSON.stringify(data)}`;
}
