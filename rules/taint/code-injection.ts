import { taintRule } from './shared';

/** INJ003: request data evaluated as Python code or template source. */
export const rule = taintRule({
  code: 'INJ003',
  slug: 'code-injection',
  title: 'Request data evaluated as code',
  defaultSeverity: 'error',
  cwe: [94, 95],
  owasp: ['API8:2023'],
  fix: 'none',
  exposureSensitive: true,
  docs: {
    whatItDoes:
      'Reports route inputs that reach `eval()`, `exec()`, `compile()`, `__import__()`, `importlib.import_module()`, or become the source of a Jinja2 template (`jinja2.Template(x)`, `env.from_string(x)`: server-side template injection). In addition, every `eval()`/`exec()` of something that is not a string literal is reported at `info`, even when no route input was traced to it, because such calls are rarely needed and easy to reach by accident.',
    whyIsThisBad:
      'Evaluating client data runs the client\'s code inside the server process: `__import__("os").system("...")` takes over the host. Importing a module named by the client, or compiling a template it wrote, is the same thing with extra steps.',
    example: `@router.get("/calc")
def calc(expr: str):
    return {"result": eval(expr)}`,
    useInstead: `import ast

@router.get("/calc")
def calc(expr: str):
    return {"result": ast.literal_eval(expr)}`,
    fixSafety:
      'No automatic fix: `ast.literal_eval` only accepts literals, and an allow list of modules or a sandboxed template environment depends on what the code needs.',
  },
});
