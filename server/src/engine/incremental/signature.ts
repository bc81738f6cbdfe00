import type { Expr, FuncFacts, ModuleFacts, StatementCall } from '../facts';
import { isRouteMethod } from '../model';
import { scopeKey, type Relevance } from './trace';

/**
 * The graph signature of a file: everything the workspace passes (`combine()`) read from its
 * facts, with positions taken out: module-level bindings, every function's header (name,
 * parameters, decorators, condition), what decides whether a function the dependency verdicts
 * read rejects callers (raises, error responses, guards, 401/403 mentions), every class, registration calls, bindings of the
 * scopes that were evaluated, the returns of factories, and `# fastapi-lens` comments with the
 * lines they annotate. Two versions of a file with the same signature give the same routes
 * and exposure; only positions move. Positions are listed separately, in the same order, so
 * that old and new ones can be paired.
 */

/** Methods whose calls the FastAPI model evaluates (model.ts REGISTRATION_METHODS). */
const REGISTRATION = new Set([
  'include_router',
  'mount',
  'add_api_route',
  'add_route',
  'add_api_websocket_route',
  'add_websocket_route',
  'add_middleware',
]);

/** What `DependencyAnalyzer.rejects` looks for in a function's names. */
const REJECT_MENTIONS = new Set([
  '401',
  '403',
  'HTTP_401_UNAUTHORIZED',
  'HTTP_403_FORBIDDEN',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'super',
]);

function lastName(e: Expr): string | null {
  return e.k === 'name' ? e.id : e.k === 'attr' ? e.attr : null;
}

/** A statement call the FastAPI model may act on. */
export function registrationShaped(c: StatementCall, helperNames: Set<string>): boolean {
  const fn = c.call.fn;
  if (fn.k === 'call' && fn.fn.k === 'attr' && isRouteMethod(fn.fn.attr)) return true;
  if (fn.k === 'attr' && REGISTRATION.has(fn.attr)) return true;
  const last = lastName(fn);
  return last !== null && helperNames.has(last);
}

export interface Projection {
  /** Position-free content. */
  key: string;
  /** Positions in content order: line, column (-1 when there is none), ... */
  positions: number[];
  /** Items covered (imports, assignments, functions, classes, calls, comments), in order. */
  objects: object[];
}

/** What a group holds (ModuleFacts has the same fields). */
export interface ItemLists {
  imports: ModuleFacts['imports'];
  assigns: ModuleFacts['assigns'];
  funcs: ModuleFacts['funcs'];
  classes: ModuleFacts['classes'];
  calls: ModuleFacts['calls'];
  comments: ModuleFacts['comments'];
}

class Builder {
  readonly parts: unknown[] = [];
  readonly positions: number[] = [];
  /** The facts items covered, in order (old and new ones are paired by index). */
  readonly objects: object[] = [];

  pos(line: number, col = -1): void {
    this.positions.push(line, col);
  }

  expr(e: Expr | null | undefined): unknown {
    if (!e) return null;
    switch (e.k) {
      case 'name':
        this.pos(e.line, e.col);
        return ['n', e.id];
      case 'attr': {
        this.pos(e.line, e.col);
        return ['a', this.expr(e.obj), e.attr];
      }
      case 'call': {
        this.pos(e.line, e.col);
        const fn = this.expr(e.fn);
        const args = e.args.map((a) => this.expr(a));
        const kw = Object.entries(e.kw).map(([k, v]) => [k, this.expr(v)]);
        return ['c', fn, args, kw, e.splat, e.text];
      }
      case 'sub': {
        this.pos(e.line, e.col);
        return ['[', this.expr(e.obj), e.idx.map((i) => this.expr(i))];
      }
      case 'list':
        return ['l', e.items.map((i) => this.expr(i))];
      case 'binop':
        return ['o', e.op, this.expr(e.l), this.expr(e.r)];
      case 'str':
        return ['s', e.v, e.fstring];
      case 'num':
        return ['#', e.v];
      case 'bool':
        return ['b', e.v];
      case 'none':
        return ['0'];
      case 'other':
        return ['?', e.text];
    }
  }

  func(fn: FuncFacts, abs: string, rel: Relevance): void {
    this.objects.push(fn);
    this.pos(fn.line, fn.col);
    const params = fn.params.map((p) => [
      p.name,
      this.expr(p.annotation),
      this.expr(p.default),
      p.variadic,
    ]);
    const returnType = this.expr(fn.returnType);
    const decorators = fn.decorators.map((d) => {
      this.pos(d.line, d.col);
      return [this.expr(d.expr), d.text];
    });
    // What decides whether it rejects callers: only of functions whose verdict was read.
    let body: unknown = null;
    if (rel.bodies.has(scopeKey(abs, fn.qualname))) {
      const raises = fn.raises.map((r) => {
        this.pos(r.line);
        return this.expr(r.expr);
      });
      const guards = fn.guards.map((g) => {
        this.pos(g.line);
        return g.condition;
      });
      const mentions = fn.mentions.filter((m) => REJECT_MENTIONS.has(m)).sort();
      body = [raises, fn.responseCalls.length > 0, guards, mentions];
    }
    let returns: unknown = null;
    if (rel.returns.has(scopeKey(abs, fn.qualname)))
      returns = fn.returns.map((r) => {
        this.pos(r.line);
        return this.expr(r.value);
      });
    this.parts.push([
      'f',
      fn.name,
      fn.qualname,
      fn.scope,
      fn.className,
      fn.cond,
      fn.isAsync,
      params,
      returnType,
      decorators,
      body,
      returns,
    ]);
  }
}

/** The signature of some groups of a file (their items, in order). */
export function projectGroups(groups: ItemLists[], abs: string, rel: Relevance): Projection {
  const b = new Builder();
  const looked = (scope: string) => scope === '' || rel.scopes.has(scopeKey(abs, scope));
  for (const it of groups) {
    for (const i of it.imports) {
      if (!looked(i.scope)) continue;
      b.objects.push(i);
      b.pos(i.line);
      b.parts.push(['i', i.scope, i.local, i.module, i.level, i.name, i.fullModule]);
    }
    for (const a of it.assigns) {
      if (!looked(a.scope) && !a.target.startsWith('self.')) continue;
      b.objects.push(a);
      b.pos(a.line);
      b.parts.push(['=', a.target, a.scope, a.cond, !!a.iter, b.expr(a.value)]);
    }
    for (const fn of it.funcs) b.func(fn, abs, rel);
    for (const c of it.classes) {
      b.objects.push(c);
      b.pos(c.line, c.col);
      b.parts.push([
        'C',
        c.name,
        c.qualname,
        c.scope,
        c.bases.map((x) => b.expr(x)),
        Object.entries(c.methods),
        Object.entries(c.attrs).map(([k, v]) => [k, b.expr(v)]),
        c.fields,
      ]);
    }
    for (const c of it.calls) {
      if (!registrationShaped(c, rel.helperNames)) continue;
      b.objects.push(c);
      b.pos(c.line, c.col);
      b.parts.push(['k', c.scope, c.cond, b.expr(c.call)]);
    }
    for (const c of it.comments) {
      b.objects.push(c);
      b.pos(c.line);
      b.parts.push(['#', c.text]);
    }
  }
  return { key: JSON.stringify(b.parts), positions: b.positions, objects: b.objects };
}

/**
 * File-level part of the signature: `__all__`, whether it imports FastAPI, and which lines the
 * `# fastapi-lens` comments annotate (a route's own line, the line above, its handler's line:
 * see routes.ts publicReason), as indices of functions, decorators and registration calls.
 */
export function fileKey(facts: ModuleFacts, rel: Relevance): string {
  const anchors: unknown[] = [];
  if (facts.comments.length) {
    const at = new Map<number, string[]>();
    const mark = (line: number, id: string) => {
      const list = at.get(line);
      if (list) list.push(id);
      else at.set(line, [id]);
    };
    facts.funcs.forEach((fn, i) => {
      mark(fn.line, `f${i}`);
      fn.decorators.forEach((d, j) => mark(d.line, `d${i}.${j}`));
    });
    let k = 0;
    for (const c of facts.calls)
      if (registrationShaped(c, rel.helperNames)) mark(c.line, `k${k++}`);
    facts.comments.forEach((c, i) => {
      anchors.push([i, at.get(c.line) ?? [], at.get(c.line + 1) ?? []]);
    });
  }
  return JSON.stringify([facts.exportsAll, facts.fastapiRelated, anchors]);
}
