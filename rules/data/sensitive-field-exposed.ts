import type { Expr } from '../../server/src/engine/facts';
import { routeSummary, severityFor } from '../../server/src/engine/scan';
import type { EvalCtx, Value, Workspace } from '../../server/src/engine/workspace';
import type { WorkspaceRule } from '../api';
import { routeLabel } from '../auth/util';

/** Field names that must never reach a client. */
/**
 * Field names that must never reach a client. Capability tokens that APIs hand out on purpose
 * (`client_secret` of a checkout, an enrolment `secret`, `refresh_token` from a token endpoint,
 * a freshly created `api_key`) are left out: returning them is the point of those routes.
 */
const SENSITIVE =
  /(password|passwd|^pwd$|^hash$|_hash$|^hashed_|private_?key|secret_?key|signing_?key|otp_?seed|mfa_?key|^ssn$|social_security|card_?number|^cvv$|^pin$)/i;
/** Metadata about a secret, not the secret itself. */
const METADATA =
  /(_at|_on|_expires?|_expiry|_set|_changed|_required|_length|_policy|_hint|_reset_sent|_enabled|_url|_last_?4|_masked|_prefix)$/i;

const WRAPPERS =
  /^(List|list|Sequence|Optional|Iterable|Set|set|Tuple|tuple|Page|Union|Annotated)$/;

interface ModelHit {
  className: string;
  field: string;
  orm: boolean;
}

/** The classes an annotation / response_model names (List[User] -> User). */
function classesIn(ws: Workspace, ctx: EvalCtx, e: Expr, depth = 0): Value[] {
  if (depth > 6) return [];
  if (e.k === 'sub') {
    const head = e.obj.k === 'name' ? e.obj.id : e.obj.k === 'attr' ? e.obj.attr : '';
    if (WRAPPERS.test(head)) return e.idx.flatMap((i) => classesIn(ws, ctx, i, depth + 1));
    return [];
  }
  if (e.k === 'binop' && e.op === '|')
    return [...classesIn(ws, ctx, e.l, depth + 1), ...classesIn(ws, ctx, e.r, depth + 1)];
  if (e.k === 'name' || e.k === 'attr') {
    const v = ws.eval(ctx, e);
    return v.t === 'class' ? [v] : [];
  }
  return [];
}

function sensitiveField(ws: Workspace, v: Value): ModelHit | null {
  if (v.t !== 'class') return null;
  const ancestors = ws.workspaceAncestors(v);
  const externals = ws.externalAncestors(v);
  const orm =
    externals.some((q) =>
      /^(sqlalchemy|sqlmodel|tortoise|peewee|django|odmantic|beanie|mongoengine)\b/.test(q),
    ) ||
    ancestors.some(
      (a) => /^(Base|Model|DeclarativeBase|SQLModel)$/.test(a.cls.name) && a.cls !== v.cls,
    ) ||
    Object.values(v.cls.attrs).some(
      (e) =>
        e.k === 'call' && /(^|\.)(Column|mapped_column|relationship)$/.test(e.text.split('(')[0]),
    );
  for (const { cls } of ancestors) {
    for (const field of [...cls.fields, ...Object.keys(cls.attrs)]) {
      if (SENSITIVE.test(field) && !METADATA.test(field))
        return { className: v.cls.name, field, orm };
    }
  }
  return null;
}

function namesIn(e: Expr, out: Expr[] = [], depth = 0): Expr[] {
  if (depth > 12) return out;
  switch (e.k) {
    case 'name':
      out.push(e);
      break;
    case 'attr':
      out.push(e);
      namesIn(e.obj, out, depth + 1);
      break;
    case 'call':
      namesIn(e.fn, out, depth + 1);
      for (const a of e.args) namesIn(a, out, depth + 1);
      for (const a of Object.values(e.kw)) namesIn(a, out, depth + 1);
      break;
    case 'list':
      for (const i of e.items) namesIn(i, out, depth + 1);
      break;
    case 'sub':
      namesIn(e.obj, out, depth + 1);
      for (const i of e.idx) namesIn(i, out, depth + 1);
      break;
    default:
      break;
  }
  return out;
}

/** DATA001: passwords, hashes and keys in what a route returns. */
export const rule: WorkspaceRule = {
  kind: 'workspace',
  reach: { warm: 'route', cold: 'route', routes: (r) => r.route.kind === 'http' },
  meta: {
    code: 'DATA001',
    slug: 'sensitive-field-exposed',
    title: 'Response carries password, hash, key or token fields',
    defaultSeverity: 'error',
    cwe: [200, 359],
    owasp: ['API3:2023'],
    fix: 'none',
    exposureSensitive: true,
    docs: {
      whatItDoes:
        "Reports routes whose response model (`response_model=` or the handler's return annotation) declares a password, password hash, secret, API key, refresh token or card field, and routes without any response model that return an ORM object (SQLAlchemy, SQLModel, ...) carrying such a column.",
      whyIsThisBad:
        'Excessive data exposure: FastAPI serialises every field of the response model, and without a response model it serialises the ORM object as it is. Password hashes can be cracked offline; keys and tokens are credentials.',
      example: `class User(Base):
    __tablename__ = "users"
    id = Column(Integer, primary_key=True)
    email = Column(String)
    hashed_password = Column(String)

@router.get("/users/{user_id}")
def read_user(user_id: int, db: Session = Depends(get_db)):
    return db.get(User, user_id)`,
      useInstead: `class UserOut(BaseModel):
    id: int
    email: str

@router.get("/users/{user_id}", response_model=UserOut)
def read_user(user_id: int, db: Session = Depends(get_db)):
    return db.get(User, user_id)`,
      fixSafety: 'No automatic fix: the right public model depends on the API.',
    },
  },
  checkWorkspace(ctx) {
    const ws = ctx.analysis.workspace;
    for (const record of ctx.routes) {
      const route = record.route;
      const handler = record.handler;
      const call = record.reg?.call;
      if (!handler || !call || route.kind !== 'http') continue;
      const evalCtx: EvalCtx = { file: record.reg?.file ?? handler.file, scope: handler.fn.scope };
      const model = call.kw.response_model;
      let hit: ModelHit | null = null;
      let how: string;
      if (model && model.k !== 'none') {
        for (const c of classesIn(ws, evalCtx, model)) hit = hit ?? sensitiveField(ws, c);
        how = 'response model';
      } else if (handler.fn.returnType) {
        const hctx: EvalCtx = { file: handler.file, scope: handler.fn.scope };
        for (const c of classesIn(ws, hctx, handler.fn.returnType))
          hit = hit ?? sensitiveField(ws, c);
        how = 'return type';
      } else {
        // No model: look at what is returned (and what the returned names were built from).
        const bodyCtx: EvalCtx = { file: handler.file, scope: handler.fn.qualname };
        const idx = ws.fileIndex(handler.file).scopes.get(handler.fn.qualname);
        for (const r of handler.fn.returns) {
          const exprs = [r.value];
          if (r.value.k === 'name') {
            const bindings = idx?.get(r.value.id) ?? [];
            for (const b of bindings) if (b.kind === 'assign') exprs.push(b.a.value);
          }
          for (const e of exprs.flatMap((x) => namesIn(x))) {
            const v = ws.eval(bodyCtx, e);
            const h = sensitiveField(ws, v);
            if (h && h.orm) hit = hit ?? h;
          }
        }
        how = 'ORM object returned without a response_model';
      }
      if (!hit) continue;
      ctx.report({
        file: route.file,
        line: route.line,
        column: route.column,
        message:
          how === 'ORM object returned without a response_model'
            ? `${routeLabel(route)} returns the ORM object \`${hit.className}\` without a response_model: its field \`${hit.field}\` is sent to the client.`
            : `${routeLabel(route)} has ${how} \`${hit.className}\` with field \`${hit.field}\`: it is sent to every caller.`,
        severity: severityFor(rule.meta.defaultSeverity, true, route.exposure),
        route: routeSummary(record),
      });
    }
  },
};
