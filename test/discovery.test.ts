import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { relativeTo, toPosix } from '../server/src/engine/discovery';

/**
 * Discovery's relative paths: `relativeTo` slices instead of calling `path.relative` when a path
 * is below its base as written, and must give what `path.relative` gives in every case.
 */
describe('discovery: relative paths', () => {
  const cases: [string, string][] = [
    ['/w/app', '/w/app/main.py'],
    ['/w/app', '/w/app/api/routes/items.py'],
    ['/w/app', '/w/app'],
    ['/w/app', '/w/app/'],
    ['/w/app/', '/w/app/main.py'],
    ['/w/app', '/w/apple/main.py'],
    ['/w/app', '/w/ap'],
    ['/w/app', '/w/other/x.py'],
    ['/', '/w/app/main.py'],
    ['', '/w/app/main.py'],
    ['/w/app/../app', '/w/app/main.py'],
    ['/w/app', '/w/app/../app/main.py'],
    ['/w/app', '/w/app/./main.py'],
    ['/w/app', '/w/app//main.py'],
    ['w/app', 'w/app/main.py'],
    ['w/app', '/w/app/main.py'],
    ['/w/app', '/w/app/..hidden/x.py'],
    ['/w/app', '/w/app/a b/ü.py'],
    ['/w/app', '/w/app/.github/x.py'],
    ['/w/app', '/w/app/pkg/.'],
    ['/w/app', '/w/app/pkg/..'],
    ['/w/x/..', '/w/x/../y/z.py'],
  ];
  for (const [base, abs] of cases)
    it(`${JSON.stringify(base)} → ${JSON.stringify(abs)}`, () => {
      assert.equal(relativeTo(base, abs), toPosix(path.relative(base, abs)));
    });
});
