import { taintRule } from './shared';

/** PATH001: request data used as a file path. */
export const rule = taintRule({
  code: 'PATH001',
  slug: 'path-traversal',
  title: 'File path built from request data',
  defaultSeverity: 'error',
  cwe: [22],
  owasp: ['API8:2023'],
  fix: 'none',
  exposureSensitive: true,
  docs: {
    whatItDoes:
      'Reports route inputs (including an uploaded file\'s `filename`) that reach `open()`, `aiofiles.open()`, `FileResponse()`, `os.remove/unlink/rename/listdir`, `shutil.rmtree/copy/move`, or a `pathlib.Path` method that touches the file system (`read_text()`, `write_bytes()`, `unlink()`, ...), including through `os.path.join()` and `/` joins and through service functions in other modules. Values passed through `os.path.basename()` or `werkzeug.utils.secure_filename()`, or checked in a guard clause (`if not path.resolve().is_relative_to(BASE): raise ...`, `startswith(base)`, `".." in name`) are not reported, nor are time zone names validated by `zoneinfo.ZoneInfo(tz)` / `pytz.timezone(tz)` (a key they accept is a relative zone name without `..`; `ZoneInfo.from_file(f, key=tz)` does not check it) or typed `ZoneInfo` / `TimeZoneName`. `StaticFiles` is not covered. Parameters that FastAPI validates with an anchored `pattern=` of letters, digits, `_` and `-`, and fields of a request model declared as numbers, UUIDs or enums, are not reported either.',
    whyIsThisBad:
      '`os.path.join("/srv/files", name)` with `name = "../../etc/passwd"` or an absolute path leaves the intended folder: the client reads, overwrites or deletes any file the server can reach (keys, `.env`, source code).',
    example: `@router.get("/files/{name}")
def download(name: str):
    return FileResponse(os.path.join(FILES_DIR, name))`,
    useInstead: `@router.get("/files/{name}")
def download(name: str):
    path = (FILES_DIR / name).resolve()
    if not path.is_relative_to(FILES_DIR):
        raise HTTPException(status_code=404)
    return FileResponse(path)`,
    fixSafety:
      'No automatic fix: whether to strip folders (`basename`) or to resolve and check against a base folder depends on whether sub-folders are legitimate.',
  },
});
