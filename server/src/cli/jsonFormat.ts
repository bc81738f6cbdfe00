import type { Finding } from '../engine/findings';
import { TOOL_NAME, VERSION } from './ruleInfo';
import type { ScanSummary } from './textFormat';

/**
 * `fastapi-lens scan --format json`: the findings exactly as the engine reports them (lines
 * 1-based, columns 0-based in UTF-16 code units, paths POSIX and relative to the cwd), the
 * diagnostics (engine: unreadable files, syntax errors; config: `[tool.fastapi-lens]` problems)
 * and a summary. `version` changes only on incompatible changes.
 */

export interface JsonDiagnostic {
  source: 'engine' | 'config';
  file: string;
  line?: number;
  column?: number;
  level: 'error' | 'warning' | 'note';
  message: string;
}

export interface JsonScanReport {
  version: 1;
  tool: { name: string; version: string };
  findings: Finding[];
  diagnostics: JsonDiagnostic[];
  summary: ScanSummary;
}

export function renderJson(
  findings: Finding[],
  diagnostics: JsonDiagnostic[],
  summary: ScanSummary,
): string {
  const report: JsonScanReport = {
    version: 1,
    tool: { name: TOOL_NAME, version: VERSION },
    findings,
    diagnostics,
    summary,
  };
  return JSON.stringify(report, null, 2) + '\n';
}
