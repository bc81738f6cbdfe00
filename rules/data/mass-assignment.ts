import type { Node } from 'web-tree-sitter';
import type { FileRule } from '../api';
import { calleeText, keywordArg } from '../api';

const DUMP = /\.(dict|model_dump|model_dump_json|json)$/;
const PRIVILEGED =
  /(is_?admin|is_?superuser|is_?staff|role|roles|permissions?|scopes?|is_?verified|is_?active|owner_?id|user_?id|tenant_?id|org(anization)?_?id|balance|credits?|price|plan|tier|quota|approved|status)/i;

/** `x.dict()` / `x.model_dump()` without `include=` / `exclude=`: every field the client sent. */
function wholesaleDump(node: Node | null): string | null {
  if (!node || node.type !== 'call') return null;
  const callee = calleeText(node);
  if (!DUMP.test(callee)) return null;
  if (keywordArg(node, 'include') || keywordArg(node, 'exclude')) return null;
  return callee.replace(DUMP, '');
}

function paramNames(fn: Node | null): Set<string> {
  const names = new Set<string>();
  const params = fn?.childForFieldName('parameters');
  for (const p of params?.namedChildren ?? []) {
    if (!p) continue;
    const id =
      p.type === 'identifier'
        ? p
        : (p.childForFieldName('name') ?? p.namedChildren.find((c) => c?.type === 'identifier'));
    if (id) names.add(id.text);
  }
  return names;
}

function enclosingDef(node: Node): Node | null {
  let n = node.parent;
  while (n && n.type !== 'function_definition') n = n.parent;
  return n;
}

/** DATA002: request models copied wholesale into persistent objects. */
export const rule: FileRule = {
  kind: 'file',
  meta: {
    code: 'DATA002',
    slug: 'mass-assignment',
    title: 'Request model dumped wholesale into an object or update',
    defaultSeverity: 'warning',
    cwe: [915],
    owasp: ['API3:2023'],
    fix: 'none',
    exposureSensitive: true,
    docs: {
      whatItDoes:
        'Reports a request body (a handler parameter) dumped with `.dict()` / `.model_dump()` and no `include=` / `exclude=` straight into a constructor (`User(**body.dict())`), an update (`.update(**body.dict())`, `.values(...)`, `sqlmodel_update(...)`) or a `setattr` loop over its items, when the code looks like it touches privileged fields (roles, ownership, balances, flags).',
      whyIsThisBad:
        'Mass assignment: whatever fields the request model accepts end up in the database. When the model is shared with the ORM or grows an `is_superuser`, `role` or `owner_id` field later, any client can set it.',
      example: `@router.patch("/users/me")
def update_me(body: UserUpdate, user: User = Depends(get_current_user)):
    for key, value in body.dict().items():
        setattr(user, key, value)`,
      useInstead: `@router.patch("/users/me")
def update_me(body: UserUpdate, user: User = Depends(get_current_user)):
    for key, value in body.dict(include={"full_name", "email"}, exclude_unset=True).items():
        setattr(user, key, value)`,
      fixSafety: 'No automatic fix: which fields a client may set is a product decision.',
    },
  },
  checkFile(ctx) {
    const src = ctx.source;
    // Where the source dumps a model: only calls spanning one of these (or `setattr` calls,
    // whose loop does) can copy a body wholesale. Checking offsets first keeps the tree reads
    // to the few calls that matter in files with thousands of calls.
    const dumps = [...src.matchAll(/\.(dict|model_dump)\s*\(/g)].map((m) => m.index);
    if (dumps.length === 0) return;
    for (const call of ctx.nodesOfType('call')) {
      const start = call.startIndex;
      if (!src.startsWith('setattr', start) && !someWithin(dumps, start, call.endIndex)) continue;
      const callee = calleeText(call);
      const args = call.childForFieldName('arguments');
      if (!args) continue;
      let dumped: string | null = null;
      let target = callee;
      for (const a of args.namedChildren) {
        if (!a) continue;
        const inner =
          a.type === 'dictionary_splat'
            ? (a.namedChildren[0] ?? null)
            : /sqlmodel_update|\.update$|\.values$/.test(callee)
              ? a
              : null;
        const d = wholesaleDump(inner);
        if (d) dumped = d;
      }
      if (callee === 'setattr') {
        // for key, value in body.dict().items(): setattr(obj, key, value)
        let loop: Node | null = call.parent;
        while (loop && loop.type !== 'for_statement' && loop.type !== 'function_definition')
          loop = loop.parent;
        const iter = loop?.type === 'for_statement' ? loop.childForFieldName('right') : null;
        if (iter && iter.type === 'call' && calleeText(iter).endsWith('.items')) {
          const obj = iter.childForFieldName('function')?.childForFieldName('object') ?? null;
          dumped = wholesaleDump(obj);
          target = 'setattr';
        }
      }
      if (!dumped || dumped.includes('.') || dumped.includes('(')) continue;
      const def = enclosingDef(call);
      if (!def || !paramNames(def).has(dumped)) continue;
      const text = def.text;
      if (
        !PRIVILEGED.test(text) &&
        !/(User|Account|Member|Admin|Profile|Order|Payment)\b/.test(text)
      )
        continue;
      ctx.report({
        node: call,
        message: `Request body \`${dumped}\` is copied wholesale into ${target === 'setattr' ? 'an object with setattr' : `\`${target}\``}: every field the client sends is stored; list the fields with \`include=\` or assign them one by one.`,
      });
    }
  },
};

/** Whether a sorted list of offsets has one in `[start, end)`. */
function someWithin(sorted: number[], start: number, end: number): boolean {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < start) lo = mid + 1;
    else hi = mid;
  }
  return lo < sorted.length && sorted[lo] < end;
}
