import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * file:// URIs and paths. Editors spell URIs slightly differently (VS Code percent-encodes
 * more characters than Node), so the URI a client used for an open document is remembered and
 * reused when publishing for that path.
 */

const known = new Map<string, string>();

export function uriToPath(uri: string): string | null {
  if (!uri.startsWith('file:')) return null;
  try {
    return path.normalize(fileURLToPath(uri));
  } catch {
    return null;
  }
}

/** Remember the client's spelling of a document URI. */
export function rememberUri(uri: string): string | null {
  const abs = uriToPath(uri);
  if (abs) known.set(abs, uri);
  return abs;
}

/** URIs made from paths (publishing makes the same ones over and over). */
const made = new Map<string, string>();

export function pathToUri(abs: string): string {
  const spelled = known.get(abs);
  if (spelled !== undefined) return spelled;
  let uri = made.get(abs);
  if (uri === undefined) {
    if (made.size > 100_000) made.clear();
    made.set(abs, (uri = pathToFileURL(abs).href));
  }
  return uri;
}

/** Is `abs` inside folder `dir` (or equal to it)? */
export function isInside(abs: string, dir: string): boolean {
  const rel = path.relative(dir, abs);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}
