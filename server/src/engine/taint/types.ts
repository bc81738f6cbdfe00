import type { Expr } from '../facts';

/**
 * Taint summaries: per function, which parameters and which intrinsic request sources reach
 * which sinks, the return value, and the arguments of calls to other functions. Computed once
 * per file while the syntax tree is alive; plain JSON so they cache with the rest of the facts.
 */

/** The injection-class rules, one bit each (clean masks and sink kinds). */
export const TaintRule = {
  INJ001: 1,
  INJ002: 2,
  INJ003: 4,
  PATH001: 8,
  SSRF001: 16,
  REDIR001: 32,
  XSS001: 64,
} as const;

export type TaintCode = keyof typeof TaintRule;

export const ALL_RULES = 127;
export const TAINT_CODES = Object.keys(TaintRule) as TaintCode[];

/** Label flags: what happened to the value on its way. */
export const Flag = {
  /** Built into a string (f-string, `%`, `.format`, concatenation, join). */
  BUILT: 1,
  /** Placed after the first element of a list/tuple literal (a command argument, not the program). */
  TAIL: 2,
  /** Built into a string whose literal parts look like SQL. */
  SQLISH: 4,
} as const;

/** Where the data came from, relative to the function. */
export type Origin =
  /** The function's parameter at position `i`. */
  | { k: 'p'; i: number; n: string }
  /** An intrinsic request source read in the function (`request.query_params`, ...). */
  | { k: 's'; kind: SourceKind; text: string; line: number; col: number }
  /** The result of the function's call number `call` (see FuncSummary.calls). */
  | { k: 'r'; call: number };

export type SourceKind =
  | 'query_params'
  | 'headers'
  | 'cookies'
  | 'path_params'
  | 'url'
  | 'client'
  | 'body'
  | 'form'
  | 'websocket'
  | 'filename';

export interface Step {
  line: number;
  col: number;
  /** What happened here, e.g. "f-string", "assigned to `path`". */
  m: string;
}

/** A tainted value's provenance: one origin, the steps since, and what it is safe for. */
export interface Label {
  o: Origin;
  s: Step[];
  /** Bit mask of TaintRule codes this value was sanitized for. */
  c: number;
  /** Bit mask of Flag. */
  f: number;
  /** The field read straight off a parameter (`item.qty`): its declared type may make it safe. */
  a?: string;
}

export interface SinkRecord {
  code: TaintCode;
  /** How the sink is shown: `subprocess.run(shell=True)`, `cursor.execute()`. */
  desc: string;
  line: number;
  col: number;
  endLine: number;
  endCol: number;
  /** Flags the value must carry to count (SQL method sinks need SQL-looking strings). */
  need: number;
  /** Flags that exempt the value (command arguments after the program). */
  forbid: number;
  labels: Label[];
}

export interface ReturnRecord {
  line: number;
  col: number;
  labels: Label[];
}

/**
 * A call to something that may be a workspace function, with the provenance of its arguments.
 * `fn` is evaluated with `Workspace.eval` in the caller's scope; a parameter annotated with a
 * class (`svc: FileService = Depends(...)`) is rewritten to a call of that class first.
 */
export interface CallRecord {
  fn: Expr;
  /** Callee text for messages, e.g. `files.save_upload`. */
  text: string;
  line: number;
  col: number;
  args: Label[][];
  kw: Record<string, Label[]>;
  /** `*args`/`**kwargs` arguments: may reach any parameter. */
  splat: Label[];
  /** The receiver of a method call. */
  recv: Label[];
  /** How taint passes through when the callee is not a workspace function. */
  policy: 'args' | 'recv' | 'both' | 'none';
  /** `self.method(...)`: resolved on the enclosing class. */
  selfMethod: string | null;
}

export interface FuncSummary {
  /** Qualname, as in FuncFacts. */
  q: string;
  params: string[];
  /** Method bound to an instance/class (first parameter is `self`/`cls`). */
  bound: boolean;
  sinks: SinkRecord[];
  rets: ReturnRecord[];
  calls: CallRecord[];
  /** `eval`/`exec` of a non-literal, wherever it comes from (INJ003 info). */
  evals: { line: number; col: number; endLine: number; endCol: number; callee: string }[];
}

export interface TaintFacts {
  funcs: FuncSummary[];
  /** Per class (qualname): fields declared with a type that cannot carry a payload (`qty: int`). */
  safeFields: Record<string, string[]>;
}
