import type { Node } from 'web-tree-sitter';
import type { Fix } from '../../server/src/engine/findings';
import type { FileContext, FileRule } from '../api';
import { positionalArgs } from '../api';
import {
  addImport,
  fix,
  localNameOf,
  replaceNode,
  snippet,
  stringValue,
  unparen,
  words,
} from './util';

const SECRET_WORDS = new Set([
  'secret',
  'password',
  'passwd',
  'passphrase',
  'token',
  'apikey',
  'signature',
  'sig',
  'digest',
  'hexdigest',
  'hmac',
  'mac',
  'otp',
]);
const CONFIRM_WORDS = new Set([
  'confirm',
  'confirmation',
  'repeat',
  'repeated',
  'retype',
  'again',
  'verify',
]);
const NOT_SECRET_LAST = new Set([
  'type',
  'url',
  'name',
  'id',
  'header',
  'length',
  'len',
  'expires',
  'expire',
  'exp',
  'scheme',
  'prefix',
  'kind',
  'format',
]);

/**
 * The secret a value holds, by name: `api_key`, `settings.API_KEY`, `request.headers["X-Api-Key"]`,
 * `request.headers.get("x-signature")`, `token.strip()`, `credentials.credentials`. Null when
 * the name does not say secret (`token_type`, `token_url`, `user.id`).
 */
function secretName(node: Node | null, depth = 0): string | null {
  const n = unparen(node);
  if (!n || depth > 4) return null;
  let name: string | null;
  switch (n.type) {
    case 'identifier':
      name = n.text;
      break;
    case 'attribute': {
      name = n.childForFieldName('attribute')?.text ?? null;
      // HTTPBearer: `credentials.credentials` is the bearer token.
      if (name === 'credentials') return 'credentials';
      break;
    }
    case 'subscript':
      name = stringValue(n.childForFieldName('subscript'));
      break;
    case 'call': {
      const fn = n.childForFieldName('function');
      if (fn?.type !== 'attribute') return null;
      const method = fn.childForFieldName('attribute')?.text ?? '';
      if (method === 'get' || method === 'getenv') {
        name = stringValue(positionalArgs(n)[0] ?? null);
        break;
      }
      if (method === 'hexdigest' || method === 'digest') return 'digest';
      if (/^(strip|lower|upper|encode|decode|rstrip|lstrip|casefold)$/.test(method))
        return secretName(fn.childForFieldName('object'), depth + 1);
      return null;
    }
    default:
      return null;
  }
  if (!name) return null;
  // `X-Hub-Signature-256` -> [x, hub, signature]; `password2` stays one word (a confirmation).
  const w = words(name).filter((x) => !/^\d+$/.test(x));
  if (!w.length) return null;
  const last = w[w.length - 1];
  if (NOT_SECRET_LAST.has(last)) return null;
  if (w.some((x) => CONFIRM_WORDS.has(x))) return null;
  if (SECRET_WORDS.has(last)) return name;
  if (
    last === 'key' &&
    w.length > 1 &&
    w[w.length - 2] !== 'cache' &&
    w[w.length - 2] !== 'primary'
  )
    return name;
  return null;
}

/** `body.a` and `body.b`: attributes of the same object. */
function sameObject(l: Node, r: Node): boolean {
  const a = unparen(l);
  const b = unparen(r);
  if (a?.type !== 'attribute' || b?.type !== 'attribute') return false;
  const oa = a.childForFieldName('object')?.text;
  return !!oa && oa === b.childForFieldName('object')?.text;
}

const ASSERTED = new WeakMap<FileContext, Set<number>>();

/**
 * Ids of the expressions of `assert` statements (the file's asserts are searched once: asking
 * each comparison for its parent costs its depth, quadratic in a long `a == b and ...` chain).
 */
function asserted(ctx: FileContext): Set<number> {
  let ids = ASSERTED.get(ctx);
  if (!ids) {
    ids = new Set();
    for (const a of ctx.nodesOfType('assert_statement'))
      for (const c of a.namedChildren) if (c) ids.add(c.id);
    ASSERTED.set(ctx, ids);
  }
  return ids;
}

/** Cheap text gate before looking at a comparison's nodes. */
const SECRETISH = /secret|passw|passphrase|pwd|token|key|sig|digest|mac|otp|credentials/i;

const TRIVIAL = /^(|null|none|undefined|true|false|bearer|basic|string|0)$/i;

/** A value that cannot be a secret: None, booleans, numbers, empty or trivial strings, `len(...)`. */
function trivial(node: Node): boolean {
  const n = unparen(node);
  if (!n) return true;
  switch (n.type) {
    case 'none':
    case 'true':
    case 'false':
    case 'integer':
    case 'float':
    case 'list':
    case 'dictionary':
    case 'tuple':
    case 'set':
    case 'list_comprehension':
    case 'unary_operator':
      return true;
    case 'string':
    case 'concatenated_string': {
      const v = stringValue(n);
      return v !== null && TRIVIAL.test(v.trim());
    }
    case 'call': {
      const fn = n.childForFieldName('function')?.text ?? '';
      return /^(len|type|isinstance|bool|int|str|hasattr|getattr)$/.test(fn);
    }
    default:
      return false;
  }
}

function compareFix(ctx: FileContext, cmp: Node, l: Node, r: Node, negate: boolean): Fix {
  const secretsLocal = localNameOf(ctx, 'secrets');
  const hmacLocal = localNameOf(ctx, 'hmac');
  const direct =
    localNameOf(ctx, 'secrets.compare_digest') ?? localNameOf(ctx, 'hmac.compare_digest');
  let fnText: string;
  const edits = [];
  if (direct) fnText = direct;
  else if (secretsLocal) fnText = `${secretsLocal}.compare_digest`;
  else if (hmacLocal) fnText = `${hmacLocal}.compare_digest`;
  else {
    fnText = 'secrets.compare_digest';
    edits.push(addImport(ctx, 'import secrets'));
  }
  const text = `${negate ? 'not ' : ''}${fnText}(${l.text}, ${r.text})`;
  edits.unshift(replaceNode(ctx, cmp, text));
  return fix(`Compare with ${fnText}`, 'unsafe', edits);
}

/** CRYPTO001: secrets compared with `==`, which stops at the first differing character. */
export const rule: FileRule = {
  kind: 'file',
  meta: {
    code: 'CRYPTO001',
    slug: 'non-constant-time-compare',
    title: 'Secret compared with == (timing attack)',
    defaultSeverity: 'warning',
    cwe: [208],
    owasp: ['API2:2023'],
    fix: 'unsafe',
    exposureSensitive: true,
    docs: {
      whatItDoes:
        'Reports `==` and `!=` comparisons where one side is named like a secret (API key, token, password, secret, signature, digest, HMAC, OTP: `api_key`, `settings.API_KEY`, `request.headers["X-Api-Key"]`, `request.headers.get("x-signature")`, `hmac.new(...).hexdigest()`, HTTPBearer\'s `credentials.credentials`) and the other side is a real value. Not reported: comparisons with `None`, booleans, numbers, empty or trivial strings (`"bearer"`, `"null"`), `len(...)`; names that only mention a secret (`token_type`, `token_url`); password confirmation and change checks (`password != confirm_password`, `password2`, `new_password == current_password`, two fields of one object such as `body.password == body.password_repeat`), which compare inputs of the same user; `assert` statements; and test files.',
      whyIsThisBad:
        'String equality returns as soon as a character differs, so the response time tells an attacker how many leading characters of a guess are right. Over many requests (network jitter averages out) a key, token or webhook signature can be recovered character by character instead of brute-forced.',
      example: `async def verify_key(x_api_key: str = Header(...)):
    if x_api_key != settings.API_KEY:
        raise HTTPException(status_code=401)`,
      useInstead: `import secrets

async def verify_key(x_api_key: str = Header(...)):
    if not secrets.compare_digest(x_api_key, settings.API_KEY):
        raise HTTPException(status_code=401)`,
      fixSafety:
        'The fix rewrites `a == b` to `secrets.compare_digest(a, b)` (`a != b` to `not secrets.compare_digest(a, b)`), reusing an imported `secrets`/`hmac` or adding `import secrets`. Unsafe: `compare_digest` raises `TypeError` when a side is `None`, or when one is `str` and the other `bytes`, or a `str` has non-ASCII characters; check the types first (for example `x_api_key is not None and ...`, or compare `.encode()`d values).',
    },
  },
  checkFile(ctx) {
    if (ctx.facts.test) return;
    if (!/[=!]=/.test(ctx.source)) return;
    if (!SECRETISH.test(ctx.source)) return;
    for (const cmp of ctx.nodesOfType('comparison_operator')) {
      if (!SECRETISH.test(cmp.text)) continue;
      const ops = cmp.children.filter((c) => !!c && !c.isNamed).map((c) => c!.type);
      if (ops.length !== 1 || (ops[0] !== '==' && ops[0] !== '!=')) continue;
      const operands = cmp.namedChildren.filter((c): c is Node => !!c && c.type !== 'comment');
      if (operands.length !== 2) continue;
      // `assert data["token"] == token` checks a value, it does not authenticate anyone.
      if (asserted(ctx).has(cmp.id)) continue;
      const [l, r] = operands;
      if (trivial(l) || trivial(r)) continue;
      const ln = secretName(l);
      const rn = secretName(r);
      const name = ln ?? rn;
      if (!name) continue;
      // A password confirmation compares two inputs of the same user.
      const other = ln ? r : l;
      const otherName = other.type === 'identifier' || other.type === 'attribute' ? other.text : '';
      if (otherName && words(otherName).some((w) => CONFIRM_WORDS.has(w))) continue;
      // Two fields of one request body (`body.new_password == body.current_password`), or a new
      // and an old value of the same user: a form check, not authentication.
      if (sameObject(l, r)) continue;
      if (
        ln &&
        rn &&
        [ln, rn].some((n) => words(n).some((w) => w === 'new' || w === 'old' || w === 'current'))
      )
        continue;
      ctx.report({
        node: cmp,
        message: `\`${snippet(ln ? l : r, 50)}\` is compared with \`${ops[0]}\`, which returns at the first differing character: response timing reveals the secret; use \`secrets.compare_digest\`.`,
        fix: compareFix(ctx, cmp, l, r, ops[0] === '!='),
      });
    }
  },
};
