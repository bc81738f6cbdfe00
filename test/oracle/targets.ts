import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The fixture apps FastAPI itself can load: every project under test/fixtures/routes/ and
 * examples/ with an `oracle.json` naming its app (`module:attr`).
 */
export function oracleTargets(): { dir: string; app: string }[] {
  const root = path.join(__dirname, '..', '..');
  const targets: { dir: string; app: string }[] = [];
  for (const base of [path.join(root, 'test', 'fixtures', 'routes'), path.join(root, 'examples')]) {
    if (!fs.existsSync(base)) continue;
    for (const e of fs.readdirSync(base, { withFileTypes: true })) {
      const dir = path.join(base, e.name);
      const oracle = path.join(dir, 'oracle.json');
      if (e.isDirectory() && fs.existsSync(oracle))
        targets.push({
          dir,
          app: (JSON.parse(fs.readFileSync(oracle, 'utf8')) as { app: string }).app,
        });
    }
  }
  return targets;
}
