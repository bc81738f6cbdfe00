import { ALL_RULES, TaintRule } from './types';

/**
 * Knowledge tables of the taint pass: sources, sinks, sanitizers and libraries whose calls are
 * never workspace code. Names are canonical: the dotted callee with its root replaced by what
 * the file imports (`sp.run` after `import subprocess as sp` is `subprocess.run`).
 */

const R = TaintRule;

/** Attributes of a Starlette request that carry client data. */
export const REQUEST_SOURCE_ATTRS = new Map<string, string>(
  Object.entries({
    query_params: 'query_params',
    headers: 'headers',
    cookies: 'cookies',
    path_params: 'path_params',
    url: 'url',
    client: 'client',
  }),
);

/** Awaitable methods of a request that return its body. */
export const REQUEST_SOURCE_METHODS = new Map<string, string>(
  Object.entries({
    body: 'body',
    json: 'body',
    form: 'form',
    stream: 'body',
  }),
);

export const WEBSOCKET_SOURCE_METHODS = new Set([
  'receive',
  'receive_text',
  'receive_bytes',
  'receive_json',
  'iter_text',
  'iter_bytes',
  'iter_json',
]);

/** What a source is already safe for: `request.url` and the peer address are not free text. */
export const SOURCE_CLEAN = new Map<string, number>(
  Object.entries({
    url: R.SSRF001 | R.REDIR001,
    client: R.PATH001 | R.SSRF001 | R.REDIR001 | R.INJ003,
  }),
);

export const REQUEST_TYPES = new Set(['Request', 'HTTPConnection']);
export const WEBSOCKET_TYPES = new Set(['WebSocket']);

/** Annotations whose values cannot carry an injection payload. */
export const SAFE_TYPES = new Set([
  'int',
  'float',
  'bool',
  'complex',
  'UUID',
  'UUID1',
  'UUID3',
  'UUID4',
  'UUID5',
  'date',
  'datetime',
  'time',
  'timedelta',
  'Decimal',
  'conint',
  'confloat',
  'condecimal',
  'PositiveInt',
  'NegativeInt',
  'NonNegativeInt',
  'NonPositiveInt',
  'PositiveFloat',
  'NegativeFloat',
  'NonNegativeFloat',
  'StrictInt',
  'StrictFloat',
  'StrictBool',
  'Literal',
  'IPv4Address',
  'IPv6Address',
  'IPvAnyAddress',
  // Time zones: validated against the zone database (pydantic-extra-types `TimeZoneName`,
  // pydantic's `ZoneInfo` support): a zone key, never free text.
  'ZoneInfo',
  'TimeZoneName',
]);

/** Parameter annotations that are framework objects, never user input themselves. */
export const FRAMEWORK_TYPES = new Set([
  'Request',
  'Response',
  'HTTPConnection',
  'BackgroundTasks',
  'WebSocket',
  'Session',
  'AsyncSession',
  'SecurityScopes',
  'Connection',
  'AsyncConnection',
  'Engine',
  'AsyncEngine',
  'Redis',
  'Settings',
]);

/**
 * Time zone lookups by key. `ZoneInfo(key)` raises unless the key is a normalized relative path
 * naming a TZif file in the zone database (no `..`, not absolute, no quotes or spaces), so a key
 * it accepts is a zone name like `Europe/Paris`; `pytz.timezone` checks its zone list the same
 * way. Not `ZoneInfo.from_file(f, key=...)`: that key is taken as given.
 */
const TIME_ZONE_LOOKUPS = new Set([
  'zoneinfo.ZoneInfo',
  'zoneinfo.ZoneInfo.no_cache',
  'backports.zoneinfo.ZoneInfo',
  'backports.zoneinfo.ZoneInfo.no_cache',
  'pytz.timezone',
]);

/** Calls whose result is safe for the given rules (the argument is sanitized). */
export const SANITIZERS = new Map<string, number>(
  Object.entries({
    'os.path.basename': R.PATH001,
    'posixpath.basename': R.PATH001,
    'ntpath.basename': R.PATH001,
    'werkzeug.utils.secure_filename': R.PATH001,
    'werkzeug.secure_filename': R.PATH001,
    'pathvalidate.sanitize_filename': R.PATH001,
    'shlex.quote': R.INJ002,
    'pipes.quote': R.INJ002,
    'shlex.join': R.INJ002,
    'html.escape': R.XSS001,
    'cgi.escape': R.XSS001,
    'markupsafe.escape': R.XSS001,
    'markupsafe.Markup.escape': R.XSS001,
    'jinja2.escape': R.XSS001,
    'jinja2.utils.escape': R.XSS001,
    'bleach.clean': R.XSS001,
    'nh3.clean': R.XSS001,
    'urllib.parse.quote': R.XSS001 | R.INJ002 | R.INJ001 | R.INJ003,
    'urllib.parse.quote_plus': R.XSS001 | R.INJ002 | R.INJ001 | R.INJ003 | R.PATH001,
    'psycopg2.sql.Identifier': R.INJ001,
    'psycopg2.sql.Literal': R.INJ001,
    'psycopg.sql.Identifier': R.INJ001,
    'psycopg.sql.Literal': R.INJ001,
    'pymysql.converters.escape_string': R.INJ001,
    'MySQLdb.escape_string': R.INJ001,
    ...Object.fromEntries([...TIME_ZONE_LOOKUPS].map((name) => [name, ALL_RULES])),
  }),
);

/**
 * Calls that raise unless their first argument is valid: once one returns, the argument is
 * safe for these rules on the path that continues (like a guard clause), and so is its result.
 */
export const VALIDATING_CALLS = new Map<string, number>(
  [...TIME_ZONE_LOOKUPS].map((name) => [name, ALL_RULES]),
);

/** Calls whose result carries no taint at all (numbers, hashes, parsed scalars). */
export const CLEANING_CALLS = new Set([
  'int',
  'float',
  'bool',
  'len',
  'abs',
  'round',
  'ord',
  'hash',
  'id',
  'isinstance',
  'issubclass',
  'hasattr',
  'callable',
  'type',
  'print',
  'uuid.UUID',
  'decimal.Decimal',
  'ipaddress.ip_address',
  'ipaddress.ip_network',
  'datetime.date',
  'datetime.datetime',
  'datetime.datetime.fromisoformat',
  'datetime.datetime.strptime',
  'datetime.date.fromisoformat',
  'datetime.fromisoformat',
  'datetime.strptime',
  'date.fromisoformat',
  'secrets.compare_digest',
  'hmac.compare_digest',
  'os.path.exists',
  'os.path.isfile',
  'os.path.isdir',
  'os.path.getsize',
  'os.path.isabs',
  'os.path.islink',
  're.match',
  're.fullmatch',
  're.search',
  'mimetypes.guess_type',
  'logging.info',
  'logging.warning',
  'logging.error',
  'logging.debug',
  'time.time',
  'math.floor',
  'math.ceil',
]);

/** Prefixes of canonical names whose results are numbers or digests. */
export const CLEANING_PREFIXES = ['hashlib.', 'hmac.', 'zlib.crc32', 'binascii.crc32', 'math.'];

/** Methods whose result does not carry the receiver's or the arguments' data. */
export const NON_PROPAGATING_METHODS = new Set([
  'startswith',
  'endswith',
  'isdigit',
  'isdecimal',
  'isnumeric',
  'isalnum',
  'isalpha',
  'isidentifier',
  'isascii',
  'islower',
  'isupper',
  'isspace',
  'count',
  'find',
  'rfind',
  'index',
  'rindex',
  'exists',
  'is_file',
  'is_dir',
  'is_absolute',
  'is_relative_to',
  'is_symlink',
  'stat',
  'hexdigest',
  'digest',
  'keys',
  'total_seconds',
  'timestamp',
  'first',
  'one',
  'one_or_none',
  'all',
  'scalar',
  'scalars',
  'scalar_one',
  'scalar_one_or_none',
  'fetchone',
  'fetchall',
  'fetchmany',
  'filter',
  'filter_by',
  'where',
  'order_by',
  'limit',
  'offset',
  'query',
  'commit',
  'flush',
  'refresh',
  'close',
  'model_dump_json',
]);

/** Methods whose result also carries the arguments' data (string and path building). */
export const ARG_PROPAGATING_METHODS = new Set([
  'replace',
  'joinpath',
  'with_name',
  'with_suffix',
  'with_stem',
  'format_map',
  'center',
  'ljust',
  'rjust',
  'zfill',
  'removeprefix',
  'removesuffix',
  'strip',
  'lstrip',
  'rstrip',
  'partition',
  'rpartition',
]);

/** Methods that put their arguments into the receiver (`parts.append(x)`). */
export const MUTATING_METHODS = new Set([
  'append',
  'extend',
  'insert',
  'add',
  'update',
  'appendleft',
  'extendleft',
  'setdefault',
]);

/** Library roots whose calls are never workspace code: handled by the tables, no call record. */
export const EXTERNAL_ROOTS = new Set([
  'os',
  'sys',
  'subprocess',
  'shlex',
  'pipes',
  'json',
  're',
  'pathlib',
  'shutil',
  'urllib',
  'urllib3',
  'http',
  'html',
  'base64',
  'binascii',
  'hashlib',
  'hmac',
  'secrets',
  'uuid',
  'datetime',
  'time',
  'logging',
  'typing',
  'collections',
  'itertools',
  'functools',
  'operator',
  'math',
  'random',
  'string',
  'io',
  'tempfile',
  'glob',
  'fnmatch',
  'asyncio',
  'anyio',
  'aiofiles',
  'requests',
  'httpx',
  'aiohttp',
  'fastapi',
  'starlette',
  'pydantic',
  'pydantic_settings',
  'sqlalchemy',
  'sqlmodel',
  'jinja2',
  'markupsafe',
  'werkzeug',
  'yaml',
  'pickle',
  'csv',
  'zipfile',
  'tarfile',
  'gzip',
  'bz2',
  'lzma',
  'zlib',
  'pandas',
  'numpy',
  'boto3',
  'botocore',
  'redis',
  'jwt',
  'jose',
  'passlib',
  'bcrypt',
  'importlib',
  'builtins',
  'copy',
  'dataclasses',
  'enum',
  'textwrap',
  'mimetypes',
  'email',
  'smtplib',
  'socket',
  'ssl',
  'xml',
  'lxml',
  'bleach',
  'nh3',
  'pathvalidate',
  'psycopg2',
  'psycopg',
  'asyncpg',
  'sqlite3',
  'pymysql',
  'MySQLdb',
  'motor',
  'pymongo',
  'ipaddress',
  'decimal',
  'contextlib',
  'inspect',
  'traceback',
  'warnings',
  'platform',
  'codecs',
  'struct',
  'array',
  'heapq',
  'bisect',
  'statistics',
  'locale',
  'gettext',
  'pprint',
  'posixpath',
  'ntpath',
  'pexpect',
  'paramiko',
  'PIL',
  'loguru',
  'structlog',
  'orjson',
  'ujson',
  'cgi',
  'zoneinfo',
  'backports',
  'pytz',
]);

/** Shells and interpreters whose `-c` argument is a command line, not a plain argument. */
export const SHELL_PROGRAMS =
  /^(?:(?:\/usr)?\/bin\/)?(?:sh|bash|zsh|dash|ksh|cmd(?:\.exe)?|powershell(?:\.exe)?|pwsh|python3?|perl|ruby|node)$/;
export const SHELL_FLAGS = new Set(['-c', '/c', '/C', '-Command', '-e']);

/** Literal text that makes a built string look like SQL. */
export const SQL_TEXT =
  /\b(?:select|insert|update|delete|where|from|values|into|order\s+by|group\s+by|having|join|like|limit|offset|and|or|set|drop|create|alter|table|union)\b|=\s*'?\s*$/i;

/**
 * A fixed start of a URL or path: the tainted part after it cannot change the host
 * (`https://api.example.com/...`, `/items/...`, or a base URL held in a variable: \uE000).
 */
export const FIXED_PREFIX =
  /^(?:\uE000(?!:|\/\/)|\/[^/\\\uE000]|[a-z][a-z0-9+.-]*:\/\/[^/?#\uE000{]+[/?#])/i;

export const SUBPROCESS_FUNCS = new Set(['run', 'call', 'check_call', 'check_output', 'Popen']);

/** Calls that always run a shell command line. */
export const SHELL_CALLS = new Map<string, number>(
  Object.entries({
    'os.system': 0,
    'os.popen': 0,
    'os.popen2': 0,
    'os.popen3': 0,
    'subprocess.getoutput': 0,
    'subprocess.getstatusoutput': 0,
    'commands.getoutput': 0,
    'commands.getstatusoutput': 0,
    'asyncio.create_subprocess_shell': 0,
    'pexpect.run': 0,
    'pexpect.spawn': 0,
    'os.execl': 0,
    'os.execle': 0,
    'os.execlp': 0,
    'os.execlpe': 0,
    'os.execv': 0,
    'os.execve': 0,
    'os.execvp': 0,
    'os.execvpe': 0,
    'os.spawnl': 1,
    'os.spawnle': 1,
    'os.spawnlp': 1,
    'os.spawnlpe': 1,
    'os.spawnv': 1,
    'os.spawnve': 1,
    'os.spawnvp': 1,
    'os.spawnvpe': 1,
  }),
);

/** Functions opening or changing files: the listed positional arguments (and keywords) are paths. */
export const PATH_CALLS = new Map<string, { pos: number[]; kw: string[] }>(
  Object.entries({
    open: { pos: [0], kw: ['file'] },
    'io.open': { pos: [0], kw: ['file'] },
    'codecs.open': { pos: [0], kw: ['filename'] },
    'os.open': { pos: [0], kw: ['path'] },
    'aiofiles.open': { pos: [0], kw: ['file'] },
    'anyio.open_file': { pos: [0], kw: ['file'] },
    'gzip.open': { pos: [0], kw: ['filename'] },
    'bz2.open': { pos: [0], kw: ['filename'] },
    'lzma.open': { pos: [0], kw: ['filename'] },
    'tarfile.open': { pos: [0], kw: ['name'] },
    'zipfile.ZipFile': { pos: [0], kw: ['file'] },
    'os.remove': { pos: [0], kw: ['path'] },
    'os.unlink': { pos: [0], kw: ['path'] },
    'os.rmdir': { pos: [0], kw: ['path'] },
    'os.removedirs': { pos: [0], kw: ['name'] },
    'os.listdir': { pos: [0], kw: ['path'] },
    'os.scandir': { pos: [0], kw: ['path'] },
    'os.chmod': { pos: [0], kw: ['path'] },
    'os.chown': { pos: [0], kw: ['path'] },
    'os.truncate': { pos: [0], kw: ['path'] },
    'os.rename': { pos: [0, 1], kw: ['src', 'dst'] },
    'os.renames': { pos: [0, 1], kw: ['old', 'new'] },
    'os.replace': { pos: [0, 1], kw: ['src', 'dst'] },
    'os.symlink': { pos: [0, 1], kw: ['src', 'dst'] },
    'os.makedirs': { pos: [0], kw: ['name'] },
    'os.mkdir': { pos: [0], kw: ['path'] },
    'shutil.rmtree': { pos: [0], kw: ['path'] },
    'shutil.copy': { pos: [0, 1], kw: ['src', 'dst'] },
    'shutil.copy2': { pos: [0, 1], kw: ['src', 'dst'] },
    'shutil.copyfile': { pos: [0, 1], kw: ['src', 'dst'] },
    'shutil.copytree': { pos: [0, 1], kw: ['src', 'dst'] },
    'shutil.move': { pos: [0, 1], kw: ['src', 'dst'] },
    'shutil.unpack_archive': { pos: [0, 1], kw: ['filename', 'extract_dir'] },
    'shutil.make_archive': { pos: [0, 2], kw: ['base_name', 'root_dir'] },
    'aiofiles.os.remove': { pos: [0], kw: ['path'] },
    'aiofiles.os.unlink': { pos: [0], kw: ['path'] },
    'aiofiles.os.rename': { pos: [0, 1], kw: ['src', 'dst'] },
  }),
);

/** Path object methods that touch the file system (the receiver is the path). */
export const PATH_METHODS = new Set([
  'read_text',
  'read_bytes',
  'write_text',
  'write_bytes',
  'open',
  'unlink',
  'rmdir',
  'rename',
  'touch',
  'symlink_to',
  'hardlink_to',
  'chmod',
  'iterdir',
]);

/** HTTP client functions: the URL is the first argument (`request`: the second) or `url=`. */
export const HTTP_FUNCS = new Set([
  'requests.get',
  'requests.post',
  'requests.put',
  'requests.patch',
  'requests.delete',
  'requests.head',
  'requests.options',
  'requests.request',
  'requests.api.request',
  'httpx.get',
  'httpx.post',
  'httpx.put',
  'httpx.patch',
  'httpx.delete',
  'httpx.head',
  'httpx.options',
  'httpx.request',
  'httpx.stream',
  'urllib.request.urlopen',
  'urllib.request.urlretrieve',
  'urllib.urlopen',
  'urllib2.urlopen',
  'aiohttp.request',
]);

export const HTTP_METHODS = new Set([
  'get',
  'post',
  'put',
  'patch',
  'delete',
  'head',
  'options',
  'request',
  'stream',
  'ws_connect',
]);

/** Constructors of HTTP clients: `client.get(url)` on their instances is a request. */
export const HTTP_CLIENTS = new Set([
  'httpx.Client',
  'httpx.AsyncClient',
  'requests.Session',
  'requests.session',
  'requests.sessions.Session',
  'aiohttp.ClientSession',
  'urllib3.PoolManager',
  'urllib3.PoolManager',
]);

/** SQL-running methods: the first argument (or these keywords) is the statement. */
export const SQL_METHODS = new Set([
  'execute',
  'executemany',
  'executescript',
  'exec_driver_sql',
  'raw',
  'fetch',
  'fetchrow',
  'fetchval',
  'mogrify',
]);
export const SQL_KWARGS = ['statement', 'sql', 'query', 'operation'];

export const SQL_TEXT_FUNCS = new Set([
  'sqlalchemy.text',
  'sqlalchemy.sql.text',
  'sqlalchemy.sql.expression.text',
  'sqlmodel.text',
]);
export const SQL_READ_FUNCS = new Set([
  'pandas.read_sql',
  'pandas.read_sql_query',
  'pandas.io.sql.read_sql',
]);

export const CODE_FUNCS = new Map<string, string>(
  Object.entries({
    eval: 'eval()',
    exec: 'exec()',
    compile: 'compile()',
    __import__: '__import__()',
    'importlib.import_module': 'importlib.import_module()',
    'builtins.eval': 'eval()',
    'builtins.exec': 'exec()',
  }),
);

/** Conditions that prove a value safe (allow lists, anchored patterns, digit checks). */
export const CHECK_METHODS_ALL = new Set([
  'isdigit',
  'isdecimal',
  'isnumeric',
  'isalnum',
  'isalpha',
  'isidentifier',
]);

export const URL_SAFE_CHECKS = new Set([
  'url_has_allowed_host_and_scheme',
  'is_safe_url',
  'is_safe_redirect',
  'is_allowed_url',
  'is_safe_redirect_url',
]);

export { ALL_RULES };
