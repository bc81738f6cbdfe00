import type { RuleMeta } from '../../../rules/api';
import type { Severity } from '../engine/findings';
import { version } from '../../../package.json';

/**
 * Facts about the tool and its rules shared by the CLI reports, the rule docs generator and
 * the language server: version, documentation URLs, CWE and OWASP labels.
 */

export const TOOL_NAME = 'fastapi-lens';
export const VERSION: string = version;
export const REPO_URL = 'https://github.com/fastapi-lens/fastapi-lens';
/** The one place rule documentation URLs are built from (pages are docs/rules/CODE.md). */
export const RULE_DOCS_BASE_URL = `${REPO_URL}/blob/main/docs/rules/`;

export function ruleDocsUrl(code: string): string {
  return `${RULE_DOCS_BASE_URL}${code}.md`;
}

export function cweUrl(cwe: number): string {
  return `https://cwe.mitre.org/data/definitions/${cwe}.html`;
}

/** OWASP API Security Top 10 (2023): id -> [title, page slug]. */
export const OWASP_API_2023: Record<string, [string, string]> = {
  'API1:2023': ['Broken Object Level Authorization', '0xa1-broken-object-level-authorization'],
  'API2:2023': ['Broken Authentication', '0xa2-broken-authentication'],
  'API3:2023': [
    'Broken Object Property Level Authorization',
    '0xa3-broken-object-property-level-authorization',
  ],
  'API4:2023': ['Unrestricted Resource Consumption', '0xa4-unrestricted-resource-consumption'],
  'API5:2023': ['Broken Function Level Authorization', '0xa5-broken-function-level-authorization'],
  'API6:2023': [
    'Unrestricted Access to Sensitive Business Flows',
    '0xa6-unrestricted-access-to-sensitive-business-flows',
  ],
  'API7:2023': ['Server Side Request Forgery', '0xa7-server-side-request-forgery'],
  'API8:2023': ['Security Misconfiguration', '0xa8-security-misconfiguration'],
  'API9:2023': ['Improper Inventory Management', '0xa9-improper-inventory-management'],
  'API10:2023': ['Unsafe Consumption of APIs', '0xaa-unsafe-consumption-of-apis'],
};

export function owaspTitle(id: string): string | null {
  return OWASP_API_2023[id]?.[0] ?? null;
}

export function owaspUrl(id: string): string | null {
  const entry = OWASP_API_2023[id];
  return entry ? `https://owasp.org/API-Security/editions/2023/en/${entry[1]}/` : null;
}

/** GitHub code scanning's `security-severity` (0-10) by the rule's default severity. */
export const SECURITY_SEVERITY: Record<Severity, string> = {
  error: '8.0',
  warning: '5.0',
  info: '2.0',
};

/** SARIF tags: `security`, `CWE-89`, `external/cwe/cwe-89`, `OWASP-API8:2023`. */
export function ruleTags(meta: RuleMeta): string[] {
  return [
    'security',
    ...meta.cwe.map((c) => `CWE-${c}`),
    ...meta.cwe.map((c) => `external/cwe/cwe-${c}`),
    ...meta.owasp.map((o) => `OWASP-${o}`),
  ];
}

export const FIX_LABEL: Record<RuleMeta['fix'], string> = {
  safe: 'safe fix available',
  unsafe: 'unsafe fix available',
  'display-only': 'suggested fix (display only)',
  none: 'no automatic fix',
};
