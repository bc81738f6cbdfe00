import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { RuleMeta } from '../../../rules/api';
import type { Finding, Severity, TextEdit } from '../engine/findings';
import type { JsonDiagnostic } from './jsonFormat';
import { REPO_URL, ruleDocsUrl, ruleTags, SECURITY_SEVERITY, TOOL_NAME, VERSION } from './ruleInfo';

/**
 * `fastapi-lens scan --format sarif`: SARIF 2.1.0 for GitHub code scanning and other viewers.
 * One run; the driver lists every registered rule (ruleIndex points into that list); artifact
 * URIs are relative to `%SRCROOT%` (the cwd); regions are 1-based with `columnKind`
 * utf16CodeUnits (the engine's columns are 0-based UTF-16, hence +1).
 */

export const SARIF_SCHEMA = 'https://json.schemastore.org/sarif-2.1.0.json';
export const SRCROOT = '%SRCROOT%';

type Json = Record<string, unknown>;

export function sarifLevel(s: Severity): 'error' | 'warning' | 'note' {
  return s === 'info' ? 'note' : s;
}

const INTERNAL_RULE: RuleMeta = {
  code: 'LENS000',
  slug: 'internal-error',
  title: 'A rule failed on this file',
  defaultSeverity: 'info',
  cwe: [],
  owasp: [],
  fix: 'none',
  exposureSensitive: false,
  docs: {
    whatItDoes: 'Reports that a rule crashed; the other rules still ran.',
    whyIsThisBad: 'Findings of that rule may be missing for this file.',
    example: '',
    useInstead: '',
    fixSafety: '',
  },
};

function plain(markdown: string): string {
  return markdown.replace(/`([^`]*)`/g, '$1');
}

function ruleDescriptor(meta: RuleMeta): Json {
  const d = meta.docs;
  const help = [d.whyIsThisBad];
  if (d.example) help.push('', 'Example:', '', '```python', d.example, '```');
  if (d.useInstead) help.push('', 'Use instead:', '', '```python', d.useInstead, '```');
  return {
    id: meta.code,
    name: meta.slug,
    shortDescription: { text: meta.title },
    fullDescription: { text: plain(d.whatItDoes), markdown: d.whatItDoes },
    help: { text: plain(d.whyIsThisBad), markdown: help.join('\n') },
    helpUri: ruleDocsUrl(meta.code),
    defaultConfiguration: { level: sarifLevel(meta.defaultSeverity) },
    properties: {
      tags: ruleTags(meta),
      precision: 'high',
      'security-severity': SECURITY_SEVERITY[meta.defaultSeverity],
    },
  };
}

/** A relative POSIX path as a URI reference (each segment percent-encoded). */
export function artifactUri(file: string): string {
  return file.split('/').map(encodeURIComponent).join('/');
}

export interface SarifContext {
  cwd: string;
  rules: RuleMeta[];
}

export function renderSarif(
  findings: Finding[],
  diagnostics: JsonDiagnostic[],
  ctx: SarifContext,
): string {
  const rules = [...ctx.rules];
  if (findings.some((f) => f.code === 'LENS000') && !rules.some((r) => r.code === 'LENS000'))
    rules.push(INTERNAL_RULE);
  const index = new Map(rules.map((r, i) => [r.code, i]));

  const toRel = (file: string): string =>
    path.isAbsolute(file) ? path.relative(ctx.cwd, file).split(path.sep).join('/') : file;
  const artifact = (file: string): Json => ({ uri: artifactUri(toRel(file)), uriBaseId: SRCROOT });

  /** 1-based region; an empty span covers the rest of its line (endColumn omitted). */
  const region = (s: {
    line: number;
    column: number;
    endLine?: number;
    endColumn?: number;
  }): Json => {
    const startLine = Math.max(1, s.line);
    const r: Json = { startLine, startColumn: Math.max(0, s.column) + 1 };
    const endLine = Math.max(startLine, s.endLine ?? startLine);
    const endColumn = s.endColumn ?? s.column;
    if (endLine > startLine || endColumn > s.column) {
      r.endLine = endLine;
      r.endColumn = Math.max(0, endColumn) + 1;
    } else r.endLine = startLine;
    return r;
  };

  const location = (file: string, span: Parameters<typeof region>[0], message?: string): Json => {
    const loc: Json = {
      physicalLocation: { artifactLocation: artifact(file), region: region(span) },
    };
    if (message) loc.message = { text: message };
    return loc;
  };

  const fix = (title: string, edits: TextEdit[]): Json => {
    const byFile = new Map<string, TextEdit[]>();
    for (const e of edits) byFile.set(e.file, [...(byFile.get(e.file) ?? []), e]);
    return {
      description: { text: title },
      artifactChanges: [...byFile].map(([file, list]) => ({
        artifactLocation: artifact(file),
        replacements: list.map((e) => ({
          deletedRegion: {
            startLine: e.line,
            startColumn: e.column + 1,
            endLine: e.endLine,
            endColumn: e.endColumn + 1,
          },
          insertedContent: { text: e.newText },
        })),
      })),
    };
  };

  const results = findings.map((f) => {
    const result: Json = {
      ruleId: f.code,
      ruleIndex: index.get(f.code) ?? -1,
      level: sarifLevel(f.severity),
      message: { text: f.message },
      locations: [location(f.file, f)],
      partialFingerprints: { primaryLocationLineHash: f.fingerprint },
    };
    if (f.flow && f.flow.length)
      result.codeFlows = [
        {
          threadFlows: [
            {
              locations: f.flow.map((s, i) => ({
                location: location(s.file, s, s.message),
                executionOrder: i + 1,
              })),
            },
          ],
        },
      ];
    if (f.related.length)
      result.relatedLocations = f.related.map((r, i) => ({
        id: i + 1,
        ...location(r.file, r, r.message),
      }));
    if (f.fixes.length) result.fixes = f.fixes.map((x) => fix(x.title, x.edits));
    if (f.route)
      result.properties = {
        route: `${f.route.methods.join(',')} ${f.route.path || '/'}`.trim(),
        exposure: f.route.exposure,
      };
    return result;
  });

  const notification = (d: JsonDiagnostic): Json => {
    const n: Json = { level: d.level, message: { text: d.message } };
    if (d.file && d.file !== '.')
      n.locations = [
        {
          physicalLocation: {
            artifactLocation: artifact(d.file),
            ...(d.line ? { region: { startLine: d.line, startColumn: d.column ?? 1 } } : {}),
          },
        },
      ];
    return n;
  };

  let srcroot = pathToFileURL(ctx.cwd).href;
  if (!srcroot.endsWith('/')) srcroot += '/';
  const log = {
    $schema: SARIF_SCHEMA,
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: TOOL_NAME,
            informationUri: REPO_URL,
            version: VERSION,
            semanticVersion: VERSION,
            rules: rules.map(ruleDescriptor),
          },
        },
        invocations: [
          {
            executionSuccessful: true,
            toolExecutionNotifications: diagnostics
              .filter((d) => d.source === 'engine')
              .map(notification),
            toolConfigurationNotifications: diagnostics
              .filter((d) => d.source === 'config')
              .map(notification),
          },
        ],
        originalUriBaseIds: { [SRCROOT]: { uri: srcroot } },
        columnKind: 'utf16CodeUnits',
        results,
      },
    ],
  };
  return JSON.stringify(log, null, 2) + '\n';
}
