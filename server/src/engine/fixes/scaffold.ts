import * as path from 'node:path';
import type { RouteRecord } from '../routes';
import type { WorkspaceFile } from '../workspace';
import { addAuthParameter } from './protect';
import type { AuthChoice } from './style';
import type { CodeFix, FixContext } from './types';

/**
 * "Scaffold an auth dependency": for a project with no authentication at all, a new module next
 * to the app with an OAuth2 bearer + PyJWT `get_current_user` (pinned algorithm, secret from the
 * environment, 401 on any failure), wired into the route. It never overwrites a file.
 */

const MODULE_NAMES = ['security', 'auth', 'authentication', 'auth_deps', 'lens_security'];

/** Text of the scaffolded module. */
export function scaffoldModuleText(tokenUrl: string, eol = '\n'): string {
  const lines = [
    '"""Authentication dependency, scaffolded by FastAPI Security Lens.',
    '',
    'Clients send `Authorization: Bearer <token>`; the token is a JWT signed with HS256 and the',
    'secret in the JWT_SECRET_KEY environment variable. Review before use: issue tokens from your',
    `login route (${tokenUrl}) with jwt.encode({"sub": user_id, "exp": ...}, key, algorithm="HS256").`,
    '"""',
    '',
    'import os',
    '',
    'import jwt',
    'from fastapi import Depends, HTTPException, status',
    'from fastapi.security import OAuth2PasswordBearer',
    '',
    `oauth2_scheme = OAuth2PasswordBearer(tokenUrl=${JSON.stringify(tokenUrl)})`,
    '',
    '# Pinned: never let the token choose its own algorithm (no "none", no RS/HS confusion).',
    'JWT_ALGORITHM = "HS256"',
    '',
    '',
    'def get_current_user(token: str = Depends(oauth2_scheme)) -> dict:',
    '    """The verified token claims; 401 when the token is missing, invalid or expired."""',
    '    credentials_error = HTTPException(',
    '        status_code=status.HTTP_401_UNAUTHORIZED,',
    '        detail="Could not validate credentials",',
    '        headers={"WWW-Authenticate": "Bearer"},',
    '    )',
    '    secret = os.environ.get("JWT_SECRET_KEY")',
    '    if not secret:',
    '        # Fail closed: without a configured secret no token is accepted.',
    '        raise credentials_error',
    '    try:',
    '        claims = jwt.decode(',
    '            token,',
    '            secret,',
    '            algorithms=[JWT_ALGORITHM],',
    '            options={"require": ["exp", "sub"]},',
    '        )',
    '    except jwt.PyJWTError:',
    '        raise credentials_error from None',
    '    return claims',
    '',
  ];
  return lines.join(eol);
}

/** Folder and dotted package of the app (or of the route's file when no app includes it). */
function appLocation(ctx: FixContext, record: RouteRecord): WorkspaceFile | null {
  const files = ctx.analysis.workspace.files;
  const appName = record.route.app;
  if (appName) {
    for (const obj of ctx.analysis.model.objects.values())
      if (obj.kind === 'app' && obj.name === appName) return obj.file;
  }
  for (const f of files.values()) if (f.rel === record.route.file) return f;
  return null;
}

function packageOf(file: WorkspaceFile): string {
  if (file.isPackage) return file.module;
  const parts = file.module.split('.');
  return parts.slice(0, -1).join('.');
}

/** The login route's path, for the OAuth2 scheme's `tokenUrl`. */
function tokenUrl(ctx: FixContext): string {
  const login = ctx.analysis.records.find(
    (r) =>
      r.route.kind === 'http' &&
      r.route.methods.includes('POST') &&
      /(^|\/)(token|login)(\/|$)/.test(r.route.path) &&
      !r.route.path.includes('{'),
  );
  return login ? login.route.path : '/token';
}

export function scaffoldFix(ctx: FixContext, record: RouteRecord): CodeFix | null {
  if (!record.handler || record.route.kind !== 'http') return null;
  const app = appLocation(ctx, record);
  if (!app) return null;
  const dir = path.dirname(app.abs);
  const known = new Set([...ctx.analysis.workspace.files.keys()]);
  const baseName = MODULE_NAMES.find((n) => {
    const abs = path.join(dir, `${n}.py`);
    return !known.has(abs) && !ctx.exists(abs) && !ctx.exists(path.join(dir, n));
  });
  if (!baseName) return null;
  const abs = path.join(dir, `${baseName}.py`);
  const pkg = packageOf(app);
  const module = pkg ? `${pkg}.${baseName}` : baseName;
  const choice: AuthChoice = {
    id: `${module}:get_current_user`,
    dep: { module, name: 'get_current_user', abs, line: 1 },
    uses: 0,
    confidence: 'high',
    alias: null,
    param: {
      name: 'current_user',
      annotation: { text: 'dict', imports: [] },
      inlineAnnotated: false,
    },
    levels: { parameter: 0, decorator: 0, router: 0 },
  };
  const p = addAuthParameter(ctx, record.handler, choice, false);
  if (!p) return null;
  const source = ctx.sourceOf(record.handler.file.abs) ?? '';
  const eol = source.includes('\r\n') ? '\r\n' : '\n';
  const rel = path.posix.join(path.posix.dirname(app.rel), `${baseName}.py`);
  return {
    title: `Scaffold an OAuth2/JWT \`get_current_user\` in ${rel} and require it on this route`,
    kind: 'scaffold-auth',
    safety: 'unsafe',
    edits: p.edits,
    creates: [{ file: abs, text: scaffoldModuleText(tokenUrl(ctx), eol) }],
    preferred: false,
  };
}
