import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * A synthetic but realistic FastAPI project: a package per domain, each with a router module
 * (protected and public routes, Annotated aliases, sub-dependencies), a service module and
 * schemas, all included into one app. Deterministic for a given size.
 */

const DEPS = `from typing import Annotated

import jwt
from fastapi import Depends, HTTPException, status
from fastapi.security import OAuth2PasswordBearer

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/login/token")
SECRET_KEY = "change-me-in-production"


def get_db():
    db = object()
    try:
        yield db
    finally:
        pass


def get_current_user(token: str = Depends(oauth2_scheme)):
    try:
        payload = jwt.decode(token, SECRET_KEY, algorithms=["HS256"])
    except jwt.PyJWTError:
        raise HTTPException(status_code=status.HTTP_401_UNAUTHORIZED, detail="Invalid token")
    return payload


def get_current_superuser(user=Depends(get_current_user)):
    if not user.get("is_superuser"):
        raise HTTPException(status_code=403, detail="Not enough privileges")
    return user


CurrentUser = Annotated[dict, Depends(get_current_user)]
`;

function routerModule(i: number): string {
  const lines: string[] = [
    'import subprocess',
    '',
    'from fastapi import APIRouter, Depends, HTTPException',
    'from pydantic import BaseModel',
    '',
    'from app.deps import CurrentUser, get_current_superuser, get_current_user, get_db',
    `from app.domain${i}.service import Service${i}`,
    '',
    `router = APIRouter(prefix="/domain${i}", tags=["domain${i}"])`,
    `service = Service${i}()`,
    '',
    '',
    `class Item${i}(BaseModel):`,
    '    name: str',
    '    description: str = ""',
    '    price: float = 0.0',
    '',
  ];
  for (let r = 0; r < 8; r++) {
    const kind = r % 4;
    lines.push('');
    if (kind === 0) {
      lines.push(`@router.get("/items${r}/{item_id}")`);
      lines.push(`def read_item_${r}(item_id: int, user: CurrentUser, db=Depends(get_db)):`);
      lines.push(`    item = service.get(db, item_id)`);
      lines.push('    if item is None:');
      lines.push('        raise HTTPException(status_code=404, detail="Not found")');
      lines.push('    return item');
    } else if (kind === 1) {
      lines.push(`@router.post("/items${r}", dependencies=[Depends(get_current_superuser)])`);
      lines.push(`def create_item_${r}(item: Item${i}, db=Depends(get_db)):`);
      lines.push(`    return service.create(db, item.name, item.description)`);
    } else if (kind === 2) {
      lines.push(`@router.get("/search${r}")`);
      lines.push(`def search_${r}(q: str = "", limit: int = 10, db=Depends(get_db)):`);
      lines.push(`    results = service.search(db, q)`);
      lines.push('    return results[:limit]');
    } else {
      lines.push(`@router.post("/run${r}")`);
      lines.push(`def run_${r}(cmd: str, user=Depends(get_current_user)):`);
      lines.push('    out = subprocess.run(cmd, shell=True, capture_output=True)');
      lines.push('    return {"code": out.returncode}');
    }
  }
  return lines.join('\n') + '\n';
}

function serviceModule(i: number): string {
  const lines = [
    'import sqlite3',
    '',
    '',
    `class Service${i}:`,
    `    table = "domain${i}_items"`,
    '',
    '    def get(self, db, item_id):',
    '        cur = db.execute(f"SELECT * FROM {self.table} WHERE id = ?", (item_id,))',
    '        return cur.fetchone()',
    '',
    '    def create(self, db, name, description):',
    '        db.execute(f"INSERT INTO {self.table} (name, description) VALUES (?, ?)", (name, description))',
    '        return {"name": name}',
    '',
    '    def search(self, db, q):',
    '        sql = "SELECT * FROM " + self.table + " WHERE name LIKE \'%" + q + "%\'"',
    '        return db.execute(sql).fetchall()',
  ];
  for (let h = 0; h < 12; h++) {
    lines.push('');
    lines.push(`    def helper_${h}(self, values, factor=${h + 1}):`);
    lines.push('        total = 0');
    lines.push('        for v in values:');
    lines.push(`            if v % ${h + 2} == 0:`);
    lines.push('                total += v * factor');
    lines.push('            else:');
    lines.push('                total -= 1');
    lines.push('        return total');
  }
  return lines.join('\n') + '\n';
}

/** Write a project of about `targetLines` lines under `dir`; returns files and lines written. */
export function generateProject(
  dir: string,
  targetLines: number,
): { files: number; lines: number } {
  fs.rmSync(dir, { recursive: true, force: true });
  const app = path.join(dir, 'app');
  fs.mkdirSync(app, { recursive: true });
  let files = 0;
  let lines = 0;
  const write = (rel: string, text: string): void => {
    const p = path.join(dir, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, text);
    files++;
    lines += text.split('\n').length - 1;
  };
  write('app/__init__.py', '');
  write('app/deps.py', DEPS);
  const perDomain = routerModule(0).split('\n').length + serviceModule(0).split('\n').length;
  const domains = Math.max(1, Math.round((targetLines - 60) / perDomain));
  const mainLines = ['from fastapi import FastAPI', ''];
  for (let i = 0; i < domains; i++) {
    write(`app/domain${i}/__init__.py`, '');
    write(`app/domain${i}/routes.py`, routerModule(i));
    write(`app/domain${i}/service.py`, serviceModule(i));
    mainLines.push(`from app.domain${i} import routes as domain${i}_routes`);
  }
  mainLines.push('', 'app = FastAPI(title="Generated")', '');
  for (let i = 0; i < domains; i++)
    mainLines.push(`app.include_router(domain${i}_routes.router, prefix="/api")`);
  write('app/main.py', mainLines.join('\n') + '\n');
  return { files, lines };
}
