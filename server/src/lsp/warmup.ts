import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineSession } from '../engine/session';

/**
 * The first keystrokes after start-up run code V8 has not compiled yet (the incremental paths
 * are not used by the initial scan), which makes them several times slower than the later
 * ones. Once the workspace is loaded, the server edits a small generated project in the
 * background for a moment, yielding between edits, so that they are compiled before the user
 * types. Turned off with `initializationOptions.warmUp: false`.
 */

const DEPS = `from fastapi import Depends, HTTPException
from fastapi.security import OAuth2PasswordBearer

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")


def get_current_user(token: str = Depends(oauth2_scheme)):
    if not token:
        raise HTTPException(status_code=401, detail="Not authenticated")
    return {"token": token}
`;

const MAIN = `from fastapi import FastAPI

from app import routes

app = FastAPI()
app.include_router(routes.router, prefix="/api")
`;

function routesModule(n: number): string {
  const out = [
    'import subprocess',
    '',
    'from fastapi import APIRouter, Depends, Request',
    '',
    'from app.deps import get_current_user',
    '',
    'router = APIRouter(prefix="/w")',
    '',
  ];
  for (let i = 0; i < n; i++) {
    out.push('');
    if (i % 3 === 0) {
      out.push(`@router.get("/items${i}/{item_id}")`);
      out.push(`def read_${i}(item_id: int, user=Depends(get_current_user)):`);
      out.push('    total = item_id * 2');
      out.push('    return {"total": total}');
    } else if (i % 3 === 1) {
      out.push(`@router.post("/run${i}")`);
      out.push(`def run_${i}(cmd: str):`);
      out.push('    out = subprocess.run(cmd, shell=True)');
      out.push('    return {"code": out.returncode}');
    } else {
      out.push(`@router.get("/report${i}")`);
      out.push(`async def report_${i}(request: Request):`);
      out.push('    name = request.query_params.get("name", "")');
      out.push('    return {"name": name}');
    }
  }
  return out.join('\n') + '\n';
}

let started = false;

export async function warmUpEngine(edits = 40): Promise<void> {
  if (started) return;
  started = true;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fastapi-lens-warmup-'));
  const yieldNow = () => new Promise<void>((resolve) => setImmediate(resolve));
  try {
    fs.mkdirSync(path.join(dir, 'app'));
    fs.writeFileSync(path.join(dir, 'app', '__init__.py'), '');
    fs.writeFileSync(path.join(dir, 'app', 'deps.py'), DEPS);
    fs.writeFileSync(path.join(dir, 'app', 'main.py'), MAIN);
    const file = path.join(dir, 'app', 'routes.py');
    let text = routesModule(30);
    fs.writeFileSync(file, text);
    const session = new EngineSession({ roots: [dir], cwd: dir, threads: 1 });
    await session.loadAll();
    session.findings();
    await session.updateFile(file, text);
    const statement = 'extra = total + 1';
    for (let i = 0; i < edits; i++) {
      const anchor = text.indexOf('    return {"total": total}', (i % 5) * 200);
      if (i % 10 === 9) text = text.replace('\n\n@router', '\n\n\n@router');
      else
        text = `${text.slice(0, anchor)}    ${statement.slice(0, (i % statement.length) + 1)}\n${text.slice(anchor)}`;
      await session.updateFile(file, text);
      session.findingsOf('app/routes.py');
      session.takeChanges();
      await yieldNow();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
