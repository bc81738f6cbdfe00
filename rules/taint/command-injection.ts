import { taintRule } from './shared';

/** INJ002: request data in a shell command or as the program to run. */
export const rule = taintRule({
  code: 'INJ002',
  slug: 'command-injection',
  title: 'Shell command built from request data',
  defaultSeverity: 'error',
  cwe: [78],
  owasp: ['API8:2023'],
  fix: 'none',
  exposureSensitive: true,
  docs: {
    whatItDoes:
      'Reports route inputs that reach `os.system()`, `os.popen()`, `subprocess.getoutput()`, `asyncio.create_subprocess_shell()`, any `subprocess.run/call/check_output/Popen(..., shell=True)`, or that become the program itself (the first element of the argument list, or a whole command string) of a `subprocess` call without a shell. Values quoted with `shlex.quote()`, converted with `int()`, or checked against an allow list in a guard clause are not reported. A request value passed as a later element of an argument list (`["convert", name, "out.png"]`) is not reported: no shell parses it. Parameters that FastAPI validates with an anchored `pattern=` of letters, digits, `_` and `-`, and fields of a request model declared as numbers, UUIDs or enums, are not reported either.',
    whyIsThisBad:
      "A shell parses `;`, `&&`, `|`, `$(...)` and backticks: `host=example.com; cat /etc/passwd` runs a second command with the server's privileges. Letting the client choose the program is just as bad.",
    example: `@router.get("/ping")
def ping(host: str):
    return subprocess.run(f"ping -c 1 {host}", shell=True, capture_output=True).stdout`,
    useInstead: `@router.get("/ping")
def ping(host: str):
    return subprocess.run(["ping", "-c", "1", host], capture_output=True).stdout`,
    fixSafety:
      'No automatic fix: removing `shell=True` needs the command split into an argument list, and shell features the command relies on (pipes, globs) must be rewritten.',
  },
});
