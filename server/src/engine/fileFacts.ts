import * as fs from 'node:fs';
import type { Parser } from 'web-tree-sitter';
import { CODE_FILE, errText, type FileRole } from './discovery';
import { extractFacts, FileNodes, type ModuleFacts } from './facts';
import { parseSource } from './parser';
import { runFileRules } from './scan';
import { computeTaintFacts } from './taint/index';

/** One file to facts: read it safely, parse once, extract facts, run file rules and taint. */

export const DEFAULT_MAX_FILE_BYTES = 5 * 1024 * 1024;

/** Read a file as Python source, or say why not. */
export function readSource(abs: string, maxBytes: number): { source: string } | { error: string } {
  let buf: Buffer;
  try {
    const st = fs.statSync(abs);
    if (!st.isFile()) return { error: 'skipped: not a regular file' };
    if (st.size > maxBytes)
      return {
        error: `skipped: file is ${(st.size / 1024 / 1024).toFixed(1)} MB, over the ${(maxBytes / 1024 / 1024).toFixed(1)} MB limit`,
      };
    buf = fs.readFileSync(abs);
  } catch (err) {
    return { error: `cannot read: ${errText(err)}` };
  }
  // The file may have grown since the stat (a log or generated file being written).
  if (buf.length > maxBytes)
    return {
      error: `skipped: file is ${(buf.length / 1024 / 1024).toFixed(1)} MB, over the ${(maxBytes / 1024 / 1024).toFixed(1)} MB limit`,
    };
  const probe = buf.subarray(0, 8192);
  if (probe.includes(0)) return { error: 'skipped: binary file (contains NUL bytes)' };
  // Invalid UTF-8 is decoded with replacement characters rather than rejected.
  let source = new TextDecoder('utf-8', { fatal: false }).decode(buf);
  if (source.charCodeAt(0) === 0xfeff) source = source.slice(1);
  return { source };
}

/**
 * `role`: test code or documentation examples (discovery.ts fileRole). `taint: false`: no taint summaries
 * (what the file rules see is the same; session.ts fileLocalFindings needs no more).
 */
export function factsFor(
  p: Parser,
  abs: string,
  source: string,
  role: FileRole = CODE_FILE,
  options: { taint?: boolean } = {},
): ModuleFacts {
  const tree = parseSource(p, source);
  try {
    // One search of the tree for the node types every pass needs, shared by all three.
    const nodes = new FileNodes(tree.rootNode, source);
    const facts = extractFacts(abs, tree, source, nodes, role);
    facts.local = runFileRules(abs, source, tree, facts, nodes);
    if (options.taint !== false) facts.taint = computeTaintFacts(tree, facts, nodes);
    return facts;
  } finally {
    tree.delete();
  }
}
