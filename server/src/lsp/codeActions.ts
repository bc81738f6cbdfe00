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
import type { Parser } from 'web-tree-sitter';
import type { Finding, TextEdit } from '../engine/findings';
import { fixAllEdits, fixesForFinding, type CodeFix, type FixContext } from '../engine/fixes/index';
import { createPythonParser } from '../engine/parser';
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

let parser: Parser | null = null;
void createPythonParser()
  .then((p) => {
    parser = p;
  })
  .catch(() => undefined);

/** Tree-sitter's opinion on whether a text parses; true when the parser is not ready. */
function parses(text: string): boolean {
  if (!parser) return true;
  const tree = parser.parse(text);
  if (!tree) return true;
  try {
    return !tree.rootNode.hasError;
  } finally {
    tree.delete();
  }
}

export function fixContext(folder: LensFolder): FixContext {
  return {
    analysis: folder.analysis(),
    sourceOf: (abs) => folder.sourceOf(abs),
    exists: (abs) => fs.existsSync(abs),
    isValidPython: parses,
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
  await folder.flush();
  const only = params.context.only;
  const ctx = fixContext(folder);
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
