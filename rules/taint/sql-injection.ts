import { taintRule } from './shared';

/** INJ001: request data built into SQL text. */
export const rule = taintRule({
  code: 'INJ001',
  slug: 'sql-injection',
  title: 'SQL built from request data',
  defaultSeverity: 'error',
  cwe: [89],
  owasp: ['API8:2023'],
  fix: 'none',
  exposureSensitive: true,
  docs: {
    whatItDoes:
      'Follows route inputs (query, path, header, cookie, form and body parameters that are not dependencies, plus `request.query_params`, `await request.json()` and the like) through assignments, string building and calls across modules, and reports SQL text built from them with an f-string, `%`, `.format()` or concatenation that reaches `cursor.execute()`, `session.execute()`, `executemany()`, `Model.objects.raw()`, asyncpg `fetch*()`, `sqlalchemy.text()` or `pandas.read_sql()`. Values passed as bound parameters (`execute("... %s", (x,))`, `text("... :id").bindparams(id=x)`) and SQLAlchemy expressions (`select(User).where(User.name == x)`) are not reported; neither are values converted with `int()`/`uuid.UUID()` or typed as numbers, UUIDs or enums, nor time zone names validated by `zoneinfo.ZoneInfo(tz)` / `pytz.timezone(tz)` (they raise unless `tz` names a zone: the result, and `tz` itself once the call has returned) or typed `ZoneInfo` / `TimeZoneName`. Parameters that FastAPI validates with an anchored `pattern=` of letters, digits, `_` and `-`, and fields of a request model declared as numbers, UUIDs or enums, are not reported either.',
    whyIsThisBad:
      "Whoever controls the string controls the query: `name = \"x' OR '1'='1\"` returns every row, and stacked queries or `UNION SELECT` read or destroy other tables. Escaping by hand misses cases; the database driver binding parameters does not.",
    example: `@router.get("/users")
def find_users(name: str, db: Session = Depends(get_db)):
    return db.execute(text(f"SELECT * FROM users WHERE name = '{name}'")).all()`,
    useInstead: `@router.get("/users")
def find_users(name: str, db: Session = Depends(get_db)):
    return db.execute(text("SELECT * FROM users WHERE name = :name"), {"name": name}).all()`,
    fixSafety:
      'No automatic fix: turning string building into bound parameters changes the query text and its placeholders, which depend on the driver.',
  },
});
