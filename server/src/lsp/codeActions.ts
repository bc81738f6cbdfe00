import {
  CodeActionKind,
  type CodeAction,
  type CodeActionParams,
  type CreateFile,
  type Diagnostic,
  type TextDocumentEdit,
  type TextEdit as LspTextEdit,
  type WorkspaceEdit,
} from 'vscode-languageserver/node';
import type { Parser, Tree } from 'web-tree-sitter';
import type { Finding, TextEdit } from '../engine/findings';
import { fixAllEdits, fixesForFinding, type CodeFix, type FixContext } from '../engine/fixes/index';
import { DEFAULT_MAX_FILE_BYTES } from '../engine/index';
import { createPythonParser, parserUsable, parseText, textRefusal } from '../engine/parser';
import { COMMANDS, FIX_ALL_KIND } from '../protocol';
import { findingToDiagnostic, SOURCE, type DiagnosticData } from './diagnostics';
import type { LensFolder } from './folder';
import type { Lens } from './lens';
import { ruleDocHref } from './ruleDocs';
import { pathToUri, uriToPath } from './uri';
import * as fs from 'node:fs';

/**
 * Code actions: each finding's fixes as quick fixes (safe ones preferred and collected in
 * `source.fixAll.fastapiLens`), the authentication fixes (protect route / router, scaffold),
 * "mark public", "ignore on this line", and "show documentation" (a server command).
 */

let checker: Parser | null = null;

/** The parser that checks fixes' results: made on first use, and again after a parser fault. */
async function fixChecker(): Promise<Parser | null> {
  if (checker && parserUsable(checker)) return checker;
  try {
    checker = await createPythonParser();
  } catch {
    checker = null;
  }
  return checker;
}

/**
 * Tree-sitter's opinion on whether a text parses, through the guards analysed files go through
 * (size, NUL bytes, nesting, time): a text they refuse does not parse.
 */
function parsesWith(parser: Parser | null): (text: string) => boolean {
  return (text) => {
    // No parser to be had (repeated parser faults): no fix can be checked, none is offered.
    if (!parser) return false;
    let tree: Tree;
    try {
      tree = parseText(parser, text, DEFAULT_MAX_FILE_BYTES);
    } catch {
      return false;
    }
    try {
      return !tree.rootNode.hasError;
    } finally {
      tree.delete();
    }
  };
}

export function fixContext(folder: LensFolder, parser: Parser | null): FixContext {
  return {
    analysis: folder.analysis(),
    sourceOf: (abs) => folder.sourceOf(abs),
    exists: (abs) => fs.existsSync(abs),
    isValidPython: parsesWith(parser),
  };
}

function lspEdit(e: TextEdit): LspTextEdit {
  return {
    range: {
      start: { line: e.line - 1, character: e.column },
      end: { line: e.endLine - 1, character: e.endColumn },
    },
    newText: e.newText,
  };
}

/** Engine edits (and new files) as a WorkspaceEdit the client can apply. */
export function workspaceEdit(
  lens: Lens,
  edits: TextEdit[],
  creates: CodeFix['creates'] = [],
): WorkspaceEdit {
  const byFile = new Map<string, TextEdit[]>();
  for (const e of edits) byFile.set(e.file, [...(byFile.get(e.file) ?? []), e]);
  if (!lens.features.documentChanges && creates.length === 0) {
    const changes: Record<string, LspTextEdit[]> = {};
    for (const [file, list] of byFile) changes[pathToUri(file)] = list.map(lspEdit);
    return { changes };
  }
  const documentChanges: (TextDocumentEdit | CreateFile)[] = [];
  for (const c of creates) {
    const uri = pathToUri(c.file);
    documentChanges.push({
      kind: 'create',
      uri,
      options: { overwrite: false, ignoreIfExists: true },
    });
    documentChanges.push({
      textDocument: { uri, version: null },
      edits: [
        {
          range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } },
          newText: c.text,
        },
      ],
    });
  }
  for (const [file, list] of byFile)
    documentChanges.push({
      textDocument: { uri: pathToUri(file), version: lens.openVersion(file) },
      edits: list.map(lspEdit),
    });
  return { documentChanges };
}

/** The findings the request is about: those behind our diagnostics, else those in the range. */
function findingsFor(
  params: CodeActionParams,
  folder: LensFolder,
  abs: string,
): { finding: Finding; diagnostic: Diagnostic }[] {
  const all = folder.findingsOf(abs);
  const records = folder.analysis().records;
  const out: { finding: Finding; diagnostic: Diagnostic }[] = [];
  const seen = new Set<Finding>();
  for (const d of params.context.diagnostics) {
    if (d.source !== SOURCE) continue;
    const data = d.data as Partial<DiagnosticData> | undefined;
    const code = typeof d.code === 'string' ? d.code : data?.code;
    const candidates = all.filter((f) => f.code === code);
    const f =
      candidates.find(
        (x) => data?.fingerprint && x.fingerprint === data.fingerprint && x.line === data.line,
      ) ??
      candidates.find((x) => data?.fingerprint && x.fingerprint === data.fingerprint) ??
      candidates.find((x) => x.line - 1 === d.range.start.line);
    if (f && !seen.has(f)) {
      seen.add(f);
      out.push({ finding: f, diagnostic: d });
    }
  }
  if (params.context.diagnostics.length === 0) {
    const r = params.range;
    for (const f of all) {
      if (seen.has(f)) continue;
      if (f.line - 1 <= r.end.line && f.endLine - 1 >= r.start.line) {
        seen.add(f);
        out.push({ finding: f, diagnostic: findingToDiagnostic(folder, f, records) });
      }
    }
  }
  return out;
}

function wants(only: string[] | undefined, kind: string): boolean {
  if (!only || only.length === 0) return true;
  return only.some((o) => kind === o || kind.startsWith(`${o}.`));
}

export async function codeActions(lens: Lens, params: CodeActionParams): Promise<CodeAction[]> {
  const abs = uriToPath(params.textDocument.uri);
  if (!abs) return [];
  const folder = lens.folderFor(abs, false);
  if (!folder || !folder.settings.enable) return [];
  await folder.ready();
  // A text the engine refuses to parse (too big, binary, nested too deep) has no findings of
  // its own, and fixes computed from the findings of another version of it would be wrong.
  const text = folder.sourceOf(abs);
  if (text !== null && textRefusal(text, DEFAULT_MAX_FILE_BYTES)) return [];
  const only = params.context.only;
  const ctx = fixContext(folder, await fixChecker());
  const out: CodeAction[] = [];

  if (wants(only, CodeActionKind.QuickFix)) {
    for (const { finding, diagnostic } of findingsFor(params, folder, abs)) {
      for (const fix of fixesForFinding(ctx, finding)) {
        if (fix.safety === 'display-only') continue;
        if (fix.creates.length > 0 && !lens.features.createFiles) continue;
        out.push({
          title: fix.title,
          kind: CodeActionKind.QuickFix,
          diagnostics: [diagnostic],
          isPreferred: fix.preferred || undefined,
          edit: workspaceEdit(lens, fix.edits, fix.creates),
        });
      }
      out.push({
        title: `Show documentation for ${finding.code}`,
        kind: CodeActionKind.QuickFix,
        diagnostics: [diagnostic],
        command: {
          title: `Show documentation for ${finding.code}`,
          command: COMMANDS.showDocs,
          arguments: [finding.code, ruleDocHref(finding.code)],
        },
      });
    }
  }

  // Fix all: every safe fix of the file, when asked for (or offered among source actions).
  if (only ? wants(only, FIX_ALL_KIND) : true) {
    const edits = fixAllEdits(ctx, folder.findingsOf(abs));
    if (edits.length > 0)
      out.push({
        title: 'Fix all safe FastAPI Security Lens problems',
        kind: FIX_ALL_KIND,
        edit: workspaceEdit(lens, edits),
      });
  }
  return out;
}
