import { createHash } from 'node:crypto';
import { engineBuildKey } from './factsCache';

/** A file as the disk has it (null: it cannot be stat'ed). */
export type DiskStat = { mtimeMs: number; size: number } | null;

/**
 * A key of what a workspace analysis reads from the disk: this build of the engine and each
 * file's path, size and modification time, in path order. Two loads with equal keys analyse
 * the same texts (a file rewritten with the same size within the same millisecond aside: the
 * facts cache makes the same assumption). Configuration is not in it: callers add theirs.
 */
export function inputsKey(files: Iterable<readonly [string, DiskStat]>): string {
  const list = [...files].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const hash = createHash('sha1').update(engineBuildKey()).update('\n');
  for (const [abs, st] of list) hash.update(`${abs}\0${st ? `${st.mtimeMs}:${st.size}` : '-'}\n`);
  return hash.digest('hex');
}
