import type { Node } from 'web-tree-sitter';
import type { Fix } from '../../server/src/engine/findings';
import type { FileContext, FileRule } from '../api';
import { positionalArgs } from '../api';
import { jwtCalls } from './jwt';
import {
  addImport,
  assignments,
  callsNamed,
  fix,
  isSecretName,
  keywordNode,
  localNameOf,
  qualify,
  replaceNode,
  stringValue,
  unparen,
  words,
} from './util';

/**
 * Values that are obviously not a real secret: empty, masks (`xxx`, `***`), template markers
 * (`<secret>`, `${SECRET}`, `{{ secret }}`, `%(secret)s`) and explicit change-me markers
 * (`changethis`, `CHANGE_ME`, `replace-me`). Guessable stand-ins such as `your-secret-key` or
 * `secret` are NOT placeholders: they are what ends up deployed.
 */
export function isPlaceholder(value: string): boolean {
  const v = value.trim();
  if (v === '') return true;
  if (/^(x+|\*+|\.+|-+|_+|0+)$/i.test(v)) return true;
  if (/^<[^<>]*>$|^\$\{[^}]*\}$|^\{\{[^}]*\}\}$|^%\([^)]*\)s$|^\$[A-Z_][A-Z0-9_]*$/.test(v))
    return true;
  if (/change[\s_-]?(this|me|it)\b|changethis|changeme|replace[\s_-]?me|^todo$|^fixme$/i.test(v))
    return true;
  // Metasyntactic stand-ins nobody mistakes for a key (`"test"`, `"foo"`, `"dummy"`).
  if (/^(test|testing|dummy|fake|foo|bar|baz|qux|example|sample|placeholder|redacted)$/i.test(v))
    return true;
  return false;
}

/** The string is not a credential at all: a header/field name, prose, or a file path. */
function notACredential(value: string, name: string): boolean {
  const v = value.trim();
  if (/\s/.test(v)) return true; // prose: "Invalid token", "Could not validate credentials"
  if (
    /^x-[\w-]+$/i.test(v) ||
    /^(authorization|bearer|basic|token|null|undefined|none|true|false)$/i.test(v)
  )
    return true;
  if (/^(\/|\.{1,2}\/|~\/)[\w./-]*$|\.(pem|key|crt|json|txt|der|p12|pfx)$/i.test(v)) return true;
  // `ACCESS_TOKEN = "access_token"`: a dictionary key or cookie name spelled like the variable.
  const flat = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]/g, '');
  const w = words(name);
  if (flat(v) === flat(name) || (w.length && flat(v) === w[w.length - 1])) return true;
  // Enum members that spell their own name behind a prefix: `client_secret = "polar_client_secret"`.
  if (
    name.length >= 6 &&
    v !== name &&
    v.endsWith(name) &&
    /[_:./]$/.test(v.slice(0, -name.length))
  )
    return true;
  return false;
}

function isSecretLiteral(node: Node | null, name: string): string | null {
  const v = stringValue(unparen(node));
  if (v === null) return null;
  if (isPlaceholder(v) || notACredential(v, name)) return null;
  return v;
}

/** The environment-variable name to suggest: `self.jwt_secret` -> `JWT_SECRET`. */
function envName(name: string): string {
  return words(name).join('_').toUpperCase() || 'SECRET';
}

function osEnvironFix(ctx: FileContext, literal: Node, name: string): Fix | undefined {
  const env = envName(name);
  const os = localNameOf(ctx, 'os');
  const edits = [replaceNode(ctx, literal, `${os ?? 'os'}.environ[${JSON.stringify(env)}]`)];
  if (!os) edits.push(addImport(ctx, 'import os'));
  return fix(`Read ${env} from the environment`, 'display-only', edits);
}

/** The name a value is bound to by an assignment target: `x`, `self.x`, `config["X"]`. */
function targetName(left: Node): string | null {
  if (left.type === 'identifier') return left.text;
  if (left.type === 'attribute') return left.childForFieldName('attribute')?.text ?? null;
  if (left.type === 'subscript') return stringValue(left.childForFieldName('subscript'));
  return null;
}

/** An assignment target at the start of an assignment: `a.b.c` or `x["KEY"]`. */
const TARGET = /([A-Za-z_]\w*(?:\s*\.\s*[A-Za-z_]\w*)*)(?:\s*\[\s*[rbuRBU]?(['"])(.*?)\2\s*\])?/y;
const KEYWORD = /[A-Za-z_]\w*/y;
const SECRETISH = /secret|pass(w|phrase)|pwd|token|key/i;

const FIELD_CALLS = new Set(['Field', 'SecretStr', 'SecretBytes']);
const ENV_GETTERS = /^(os\.getenv|os\.environ\.get|os\.environ\.setdefault|environ\.get)$/;

/** SECRET001: credentials written in the source. */
export const rule: FileRule = {
  kind: 'file',
  meta: {
    code: 'SECRET001',
    slug: 'hardcoded-secret',
    title: 'Hardcoded secret',
    defaultSeverity: 'warning',
    cwe: [798],
    owasp: ['API8:2023'],
    fix: 'display-only',
    exposureSensitive: false,
    docs: {
      whatItDoes:
        'Reports string literals used as secrets: assigned to secret-looking names (`SECRET_KEY`, `JWT_SECRET`, `*_PASSWORD`, `API_KEY`, `*_TOKEN`, `PRIVATE_KEY`, `client_secret`, also `self.x`, `config["X"]` and pydantic `Settings` field defaults, including `Field("...")` and `SecretStr("...")`), passed as secret-named keyword arguments (`SessionMiddleware(secret_key="...")`), passed as the key of `jwt.encode`/`jwt.decode`, given as the fallback of `os.getenv("SECRET_KEY", "...")`, or compared with a secret-named value (`if x_token != "..."`). Not reported: files under `tests/` or named `test_*.py`/`*_test.py`/`conftest.py`; values read from the environment or settings; names that only mention a secret (`token_url`, `ACCESS_TOKEN_EXPIRE_MINUTES`, `hashed_password`); header and field names (`"X-API-Key"`, `ACCESS_TOKEN = "access_token"`), prose (values with spaces), file paths; and obvious placeholders: `""`, `xxx`, `***`, `<secret>`, `${SECRET}`, `{{ secret }}`, change-me markers (`changethis`, `CHANGE_ME`, `replace-me`) and metasyntactic stand-ins (`test`, `foo`, `dummy`, `example`); files under a `docs/` folder are skipped too. Guessable stand-ins such as `"your-secret-key"` or `"secret"` ARE reported: they are what gets deployed.',
      whyIsThisBad:
        'Source code is copied to laptops, CI logs, forks and container images; a secret in it is known to everyone who ever had the code and cannot be rotated without a release. A leaked `SECRET_KEY` lets anyone sign valid session cookies and JWTs for any user. A fallback in `os.getenv("SECRET_KEY", "dev")` is the same problem: when the variable is missing in production the app silently runs with the public value.',
      example: `SECRET_KEY = "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7"

class Settings(BaseSettings):
    DATABASE_PASSWORD: str = "s3cr3t-prod"`,
      useInstead: `SECRET_KEY = os.environ["SECRET_KEY"]

class Settings(BaseSettings):
    DATABASE_PASSWORD: str  # required: read from the environment or .env`,
      fixSafety:
        'Display-only: the suggested edit replaces the literal with `os.environ["NAME"]` (adding `import os` when needed), which fails at start-up until the variable is provided, so it is never applied automatically. The secret must also be rotated: it stays in the history.',
    },
  },
  checkFile(ctx) {
    // Tests and documentation tooling are not deployed.
    if (ctx.facts.test || ctx.facts.docs || !SECRETISH.test(ctx.source)) return;
    const reported = new Set<number>();
    const report = (literal: Node, message: string, fixFor?: string): void => {
      if (reported.has(literal.id)) return;
      reported.add(literal.id);
      ctx.report({
        node: literal,
        message,
        fix: fixFor ? osEnvironFix(ctx, literal, fixFor) : undefined,
      });
    };

    // 1. `NAME = "literal"`, `NAME: str = "literal"`, `NAME: str = Field("literal")`.
    const src = ctx.source;
    for (const a of assignments(ctx)) {
      // Read the target's name from the source first: no WASM crossing for the many
      // assignments whose target is not secret-named.
      TARGET.lastIndex = a.startIndex;
      const t = TARGET.exec(src);
      const quick = t ? (t[3] ?? t[1].split('.').pop() ?? '') : '';
      if (t && !isSecretName(quick)) continue;
      const left = a.childForFieldName('left');
      let right = a.childForFieldName('right');
      if (!left || !right) continue;
      const name = targetName(left);
      if (!name || !isSecretName(name)) continue;
      right = unparen(right);
      if (!right) continue;
      let literal: Node | null = right;
      if (right.type === 'call') {
        const fnName = right.childForFieldName('function')?.text.split('.').pop() ?? '';
        if (!FIELD_CALLS.has(fnName)) continue;
        const dflt = keywordNode(right, 'default');
        literal = dflt ? dflt.childForFieldName('value') : (positionalArgs(right)[0] ?? null);
        if (!literal) continue;
      }
      if (isSecretLiteral(literal, name) === null || !literal) continue;
      report(
        literal,
        `Hardcoded secret: \`${name}\` is set to a string literal, so everyone with the source has it; read it from the environment or a secrets manager.`,
        right.type === 'call' ? undefined : name,
      );
    }

    // 2. Keyword arguments and calls: `secret_key="..."`, `jwt.encode(p, "key")`, getenv fallbacks.
    for (const site of callsNamed(ctx, ['getenv', 'get', 'setdefault'])) {
      const q = qualify(ctx, site.callee) ?? site.callee;
      if (!ENV_GETTERS.test(q)) continue;
      const [varNode, dflt] = positionalArgs(site.node);
      const varName = stringValue(varNode ?? null);
      if (!varName || !isSecretName(varName) || !dflt) continue;
      if (isSecretLiteral(dflt, varName) === null) continue;
      report(
        dflt,
        `Hardcoded fallback secret: when \`${varName}\` is not set, \`${site.callee}\` silently uses a value written in the source.`,
      );
    }
    for (const c of jwtCalls(ctx)) {
      if (c.fn !== 'encode' && c.fn !== 'decode') continue;
      const kw = keywordNode(c.site.node, 'key');
      const key = kw ? kw.childForFieldName('value') : (positionalArgs(c.site.node)[1] ?? null);
      if (key && isSecretLiteral(key, 'secret_key') !== null)
        report(
          key,
          `Hardcoded JWT key: \`${c.site.callee}\` is given a string literal, so anyone with the source can sign tokens.`,
          'jwt_secret_key',
        );
    }
    for (const kw of ctx.nodesOfType('keyword_argument')) {
      KEYWORD.lastIndex = kw.startIndex;
      const name = KEYWORD.exec(src)?.[0];
      if (!name || !isSecretName(name)) continue;
      const value = kw.childForFieldName('value');
      if (!value || isSecretLiteral(value, name) === null) continue;
      report(
        value,
        `Hardcoded secret: \`${name}=\` is given a string literal, so everyone with the source has it.`,
        name,
      );
    }

    // 3. `if x_token != "fake-super-secret-token"`: the expected credential is in the source.
    for (const cmp of ctx.nodesOfType('comparison_operator')) {
      const text = cmp.text;
      if (!/["']/.test(text) || !SECRETISH.test(text)) continue;
      const ops = cmp.children.filter((c) => !!c && !c.isNamed).map((c) => c!.type);
      if (ops.length !== 1 || (ops[0] !== '==' && ops[0] !== '!=')) continue;
      const [l, r] = cmp.namedChildren;
      if (!l || !r) continue;
      for (const [side, other] of [
        [l, r],
        [r, l],
      ] as const) {
        const name = secretOperandName(side);
        if (!name || !isSecretName(name)) continue;
        if (isSecretLiteral(other, name) === null) continue;
        report(
          other,
          `Hardcoded credential: \`${name}\` is compared with a string literal, so everyone with the source knows the expected value.`,
        );
        break;
      }
    }
  },
};

/** `api_key`, `self.api_key`, `headers["X-Token"]` -> the name the operand is known by. */
function secretOperandName(node: Node): string | null {
  const n = unparen(node);
  if (!n) return null;
  if (n.type === 'identifier') return n.text;
  if (n.type === 'attribute') return n.childForFieldName('attribute')?.text ?? null;
  if (n.type === 'subscript') return stringValue(n.childForFieldName('subscript'));
  return null;
}
