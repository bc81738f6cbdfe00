import type { Node } from 'web-tree-sitter';
import type { FileContext, FileRule } from '../api';
import { positionalArgs } from '../api';
import {
  callsNamed,
  enclosingDef,
  importsAny,
  isFalse,
  keywordNode,
  qualify,
  stringValue,
  unparen,
  words,
} from './util';

const FAST_HASHES = new Set([
  'md5',
  'sha1',
  'sha224',
  'sha256',
  'sha384',
  'sha512',
  'sha3_224',
  'sha3_256',
  'sha3_384',
  'sha3_512',
  'blake2b',
  'blake2s',
]);
const BROKEN = new Set(['md5', 'sha1']);

/** passlib schemes that are fast, unsalted, broken or no hash at all. */
const WEAK_SCHEMES = new Set([
  'plaintext',
  'ldap_plaintext',
  'roundup_plaintext',
  'md5_crypt',
  'apr_md5_crypt',
  'des_crypt',
  'bsdi_crypt',
  'bigcrypt',
  'crypt16',
  'hex_md4',
  'hex_md5',
  'hex_sha1',
  'hex_sha256',
  'hex_sha512',
  'ldap_md5',
  'ldap_sha1',
  'ldap_salted_md5',
  'ldap_salted_sha1',
  'ldap_des_crypt',
  'ldap_bsdi_crypt',
  'ldap_md5_crypt',
  'mysql323',
  'mysql41',
  'postgres_md5',
  'oracle10',
  'oracle11',
  'lmhash',
  'nthash',
  'msdcc',
  'msdcc2',
  'django_salted_md5',
  'django_salted_sha1',
  'django_des_crypt',
  'django_disabled',
  'sun_md5_crypt',
  'cisco_pix',
  'cisco_asa',
  'cisco_type7',
]);

const PASSWORD_WORDS = new Set(['password', 'passwd', 'pwd', 'passphrase', 'pw', 'pass']);
const TOKEN_WORDS = new Set(['token', 'secret', 'apikey', 'session', 'otp']);

type Purpose = 'password' | 'token' | null;

/** What the identifiers and string keys in an expression talk about. */
function purposeOfText(text: string): Purpose {
  const w = words(text);
  if (w.some((x) => PASSWORD_WORDS.has(x))) return 'password';
  if (w.some((x) => TOKEN_WORDS.has(x)) || /api_?key/i.test(text)) return 'token';
  return null;
}

/** Identifier and attribute names (not string contents) of an expression, joined. */
function namesIn(node: Node): string {
  const parts: string[] = [];
  const stack: Node[] = [node];
  let budget = 200;
  while (stack.length && budget-- > 0) {
    const n = stack.pop() as Node;
    if (n.type === 'identifier') {
      parts.push(n.text);
      continue;
    }
    if (n.type === 'string') {
      // Only the `{...}` parts of an f-string name values.
      for (const c of n.namedChildren) if (c && c.type === 'interpolation') stack.push(c);
      continue;
    }
    for (const c of n.namedChildren) if (c) stack.push(c);
  }
  return parts.join(' ');
}

/** Where the digest goes: `hashed_password = hashlib.sha256(...).hexdigest()`. */
function assignedName(call: Node): string {
  let n: Node | null = call;
  for (let i = 0; n && i < 4; i++) {
    const p: Node | null = n.parent;
    if (!p) break;
    if (p.type === 'assignment') return p.childForFieldName('left')?.text ?? '';
    if (p.type === 'keyword_argument') return p.childForFieldName('name')?.text ?? '';
    n = p;
  }
  return '';
}

function purposeOf(ctx: FileContext, call: Node, data: Node | null): Purpose {
  const fromData = data ? purposeOfText(namesIn(data)) : null;
  if (fromData) return fromData;
  const target = purposeOfText(assignedName(call));
  if (target) return target;
  const def = enclosingDef(ctx, call);
  const fname = def?.childForFieldName('name')?.text ?? '';
  // `def hash_password(p): return hashlib.sha256(p.encode()).hexdigest()`
  if (/hash|encrypt|digest|store|save|check|verify/i.test(fname)) return purposeOfText(fname);
  return null;
}

/** CRYPTO002: passwords stored with a fast or broken hash. */
export const rule: FileRule = {
  kind: 'file',
  meta: {
    code: 'CRYPTO002',
    slug: 'weak-password-hash',
    title: 'Weak password hashing',
    defaultSeverity: 'warning',
    cwe: [916, 328],
    owasp: ['API2:2023'],
    fix: 'none',
    exposureSensitive: false,
    docs: {
      whatItDoes:
        'Reports fast hashes used for passwords: `hashlib.md5/sha1/sha256/sha512/sha3_*/blake2*` (or `hashlib.new("sha256", ...)`) applied to a password-like value, assigned to a password-like name (`hashed_password = ...`) or inside a `hash_password`-style function; `hashlib.md5`/`sha1` applied to tokens, secrets or API keys; passlib `CryptContext(schemes=[...])` whose default scheme is weak (`md5_crypt`, `des_crypt`, `plaintext`, `hex_sha256`, `ldap_md5`, ...) or that accepts weak schemes without `deprecated=` to migrate them; and direct use of weak passlib handlers (`passlib.hash.md5_crypt.hash(...)`). Not reported: `usedforsecurity=False`, hashes of file contents or cache keys, and SHA-256 of random tokens (hashing high-entropy API keys for lookup is fine).',
      whyIsThisBad:
        'General-purpose hashes compute billions of guesses per second on a GPU, so a leaked table of SHA-256 or MD5 password hashes (salted or not) gives up most real passwords within hours; unsalted ones fall to precomputed tables instantly. Password hashes must be slow and salted by design: bcrypt, scrypt, Argon2 or PBKDF2 with a high iteration count.',
      example: `def get_password_hash(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()

pwd_context = CryptContext(schemes=["md5_crypt"])`,
      useInstead: `pwd_context = CryptContext(schemes=["bcrypt"], deprecated="auto")

def get_password_hash(password: str) -> str:
    return pwd_context.hash(password)`,
      fixSafety:
        'No automatic fix: existing hashes have to be migrated (verify with the old scheme at login, then re-hash), which passlib supports with `deprecated="auto"`.',
    },
  },
  checkFile(ctx) {
    if (!importsAny(ctx, ['hashlib', 'passlib'])) return;
    const hashNames = [...FAST_HASHES, 'new'];
    for (const site of callsNamed(ctx, hashNames)) {
      const q = qualify(ctx, site.callee);
      if (!q || !q.startsWith('hashlib.')) continue;
      const call = site.node;
      const args = positionalArgs(call);
      let algo = q.slice('hashlib.'.length);
      let data: Node | null =
        args[0] ?? keywordNode(call, 'data')?.childForFieldName('value') ?? null;
      if (algo === 'new') {
        algo = (stringValue(args[0] ?? null) ?? '').toLowerCase().replace('-', '');
        data = args[1] ?? keywordNode(call, 'data')?.childForFieldName('value') ?? null;
      }
      if (!FAST_HASHES.has(algo)) continue;
      const ufs = keywordNode(call, 'usedforsecurity');
      if (ufs && isFalse(ufs.childForFieldName('value'))) continue;
      const purpose = purposeOf(ctx, call, data);
      if (purpose === 'password') {
        ctx.report({
          node: call,
          message: `Password hashed with \`hashlib.${algo}\`: a fast hash lets a leaked hash table be brute-forced at billions of guesses per second; use bcrypt, Argon2 or scrypt.`,
        });
      } else if (purpose === 'token' && BROKEN.has(algo)) {
        ctx.report({
          node: call,
          message: `Secret or token hashed with \`hashlib.${algo}\`, a broken hash: use \`hashlib.sha256\` for high-entropy tokens or HMAC with a server key.`,
        });
      }
    }

    for (const site of callsNamed(ctx, ['CryptContext'])) {
      const q = qualify(ctx, site.callee);
      if (!q || !/^passlib(\.[\w.]+)?\.CryptContext$/.test(q)) continue;
      const call = site.node;
      const schemesNode = unparen(keywordNode(call, 'schemes')?.childForFieldName('value') ?? null);
      if (!schemesNode || !['list', 'tuple'].includes(schemesNode.type)) continue;
      const items = schemesNode.namedChildren.filter((c): c is Node => !!c && c.type !== 'comment');
      const schemes = items.map((c) => stringValue(c) ?? '');
      const dflt = stringValue(keywordNode(call, 'default')?.childForFieldName('value') ?? null);
      const defaultScheme = dflt ?? schemes[0];
      const deprecatedSet = keywordNode(call, 'deprecated') !== null;
      items.forEach((item, i) => {
        const s = schemes[i];
        if (!WEAK_SCHEMES.has(s)) return;
        if (s !== defaultScheme && deprecatedSet) return;
        ctx.report({
          node: item,
          message:
            s === defaultScheme
              ? `Passwords are hashed with passlib scheme "${s}", which is fast or broken: make bcrypt or argon2 the first scheme.`
              : `passlib accepts weak scheme "${s}" without \`deprecated=\`: old hashes are never upgraded; add \`deprecated="auto"\`.`,
        });
      });
    }

    for (const site of callsNamed(ctx, ['hash', 'encrypt'])) {
      const q = qualify(ctx, site.callee);
      const m = q ? /^passlib\.hash\.(\w+)\.(hash|encrypt)$/.exec(q) : null;
      if (!m || !WEAK_SCHEMES.has(m[1])) continue;
      ctx.report({
        node: site.node,
        message: `Password hashed with passlib's \`${m[1]}\`, which is fast or broken: use bcrypt or argon2.`,
      });
    }
  },
};
