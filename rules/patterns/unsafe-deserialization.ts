import type { Node } from 'web-tree-sitter';
import type { FileRule } from '../api';
import { positionalArgs } from '../api';
import {
  callsNamed,
  fix,
  importsAny,
  isTrue,
  keywordNode,
  qualify,
  replaceNode,
  snippet,
} from './util';

/** Functions that rebuild arbitrary Python objects from bytes, by qualified name. */
const ALWAYS_UNSAFE: Record<string, string> = {
  'pickle.loads': 'pickle',
  'pickle.load': 'pickle',
  'pickle.Unpickler': 'pickle',
  '_pickle.loads': 'pickle',
  '_pickle.load': 'pickle',
  'cPickle.loads': 'pickle',
  'cPickle.load': 'pickle',
  'cloudpickle.loads': 'pickle',
  'cloudpickle.load': 'pickle',
  'dill.loads': 'pickle',
  'dill.load': 'pickle',
  'shelve.open': 'pickle',
  'marshal.loads': 'marshal',
  'marshal.load': 'marshal',
  'jsonpickle.decode': 'jsonpickle',
  'jsonpickle.loads': 'jsonpickle',
  'pandas.read_pickle': 'pickle',
  'joblib.load': 'pickle',
  'yaml.unsafe_load': 'yaml',
  'yaml.unsafe_load_all': 'yaml',
};

const MODULES = [
  'pickle',
  '_pickle',
  'cPickle',
  'cloudpickle',
  'dill',
  'shelve',
  'marshal',
  'jsonpickle',
  'yaml',
  'torch',
  'pandas',
  'joblib',
  'numpy',
];

const YAML_LOAD = new Set(['yaml.load', 'yaml.load_all']);
/** Loaders that only build plain data. */
const SAFE_LOADERS = new Set(['SafeLoader', 'CSafeLoader', 'BaseLoader', 'CBaseLoader']);
const UNSAFE_LOADERS = new Set([
  'Loader',
  'CLoader',
  'UnsafeLoader',
  'CUnsafeLoader',
  'FullLoader',
  'CFullLoader',
]);

const NAMES = [
  'loads',
  'load',
  'Unpickler',
  'open',
  'decode',
  'unsafe_load',
  'unsafe_load_all',
  'load_all',
  'read_pickle',
];

/** What `Loader=` resolves to: 'safe', 'unsafe' or 'unknown' (a custom loader class). */
function loaderKind(node: Node | null): 'safe' | 'unsafe' | 'unknown' {
  if (!node || (node.type !== 'identifier' && node.type !== 'attribute')) return 'unknown';
  const last = node.type === 'attribute' ? node.childForFieldName('attribute')?.text : node.text;
  if (!last) return 'unknown';
  if (SAFE_LOADERS.has(last)) return 'safe';
  if (UNSAFE_LOADERS.has(last)) return 'unsafe';
  return 'unknown';
}

/** DESER001: deserialising data with a format that can run code. */
export const rule: FileRule = {
  kind: 'file',
  meta: {
    code: 'DESER001',
    slug: 'unsafe-deserialization',
    title: 'Unsafe deserialization (pickle, unsafe YAML, torch.load)',
    defaultSeverity: 'error',
    cwe: [502],
    owasp: ['API8:2023'],
    fix: 'safe',
    exposureSensitive: true,
    docs: {
      whatItDoes:
        'Reports calls that turn bytes into arbitrary Python objects: `pickle`/`cPickle`/`_pickle`/`cloudpickle`/`dill` `load(s)` and `Unpickler`, `shelve.open`, `marshal.load(s)`, `jsonpickle.decode`, `pandas.read_pickle`, `joblib.load`, `numpy.load(..., allow_pickle=True)`, `yaml.unsafe_load`, `yaml.load`/`yaml.load_all` without a safe `Loader=` (`SafeLoader`, `CSafeLoader`, `BaseLoader`), and `torch.load` without `weights_only=True`. Names are resolved through the imports, so `import pickle as pk; pk.loads(b)` is found and a local `load()` helper is not. `yaml.safe_load` and `yaml.load(x, Loader=yaml.SafeLoader)` are fine; a custom `Loader=` class is trusted.',
      whyIsThisBad:
        'These formats can describe objects whose construction runs code (`__reduce__`, `!!python/object/apply`). Whoever controls the bytes (a request body, an upload, a cache entry, a model file from the internet) runs commands on the server. Validation after loading is too late: the code ran while loading.',
      example: `import pickle
import yaml

@app.post("/import")
async def import_data(request: Request):
    data = pickle.loads(await request.body())
    config = yaml.load(data["config"])`,
      useInstead: `import json
import yaml

@app.post("/import")
async def import_data(request: Request):
    data = json.loads(await request.body())
    config = yaml.safe_load(data["config"])`,
      fixSafety:
        'For `yaml.load(x)` and `yaml.load_all(x)` without a loader the fix rewrites the call to `yaml.safe_load(x)` / `yaml.safe_load_all(x)`: marked safe, since it only stops Python-specific tags from constructing objects and plain YAML loads the same. No automatic fix for pickle, marshal, jsonpickle or torch: the data format itself has to change.',
    },
  },
  checkFile(ctx) {
    if (!importsAny(ctx, MODULES)) return;
    for (const site of callsNamed(ctx, NAMES)) {
      const q = qualify(ctx, site.callee);
      if (!q) continue;
      const call = site.node;
      const args = positionalArgs(call);
      const src = snippet(args[0] ?? null, 40) || 'its input';
      const lib = ALWAYS_UNSAFE[q];
      if (lib) {
        const why =
          lib === 'yaml'
            ? 'constructs arbitrary Python objects from YAML tags'
            : lib === 'marshal'
              ? 'is not safe against crafted bytes'
              : 'runs code embedded in the data while loading';
        ctx.report({
          node: call,
          message: `\`${site.callee}(${src})\` ${why}: anyone who controls that data can execute code on the server.`,
        });
        continue;
      }
      if (YAML_LOAD.has(q)) {
        const loaderKw = keywordNode(call, 'Loader');
        const loader = loaderKw ? loaderKw.childForFieldName('value') : (args[1] ?? null);
        if (loader) {
          if (loaderKind(loader) !== 'unsafe') continue;
          ctx.report({
            node: call,
            message: `\`${site.callee}\` with \`${snippet(loader)}\` constructs Python objects from YAML tags in \`${src}\`: use \`yaml.safe_load\` or \`Loader=yaml.SafeLoader\`.`,
          });
          continue;
        }
        const fnNode = call.childForFieldName('function');
        const attr = fnNode?.type === 'attribute' ? fnNode.childForFieldName('attribute') : null;
        const safeName = q === 'yaml.load' ? 'safe_load' : 'safe_load_all';
        const canFix = attr !== null && args.length === 1 && !call.text.includes('**');
        ctx.report({
          node: call,
          message: `\`${site.callee}(${src})\` without a safe \`Loader=\` can construct arbitrary Python objects from YAML tags: use \`yaml.${safeName}\`.`,
          fix: canFix
            ? fix(`Use yaml.${safeName}`, 'safe', [replaceNode(ctx, attr, safeName)])
            : undefined,
        });
        continue;
      }
      if (q === 'numpy.load') {
        const ap = keywordNode(call, 'allow_pickle');
        if (!ap || !isTrue(ap.childForFieldName('value'))) continue;
        ctx.report({
          node: ap,
          message: `\`${site.callee}(${src}, allow_pickle=True)\` unpickles object arrays: a crafted file executes code on the server.`,
        });
        continue;
      }
      if (q === 'torch.load') {
        const wo = keywordNode(call, 'weights_only');
        const value = wo?.childForFieldName('value') ?? null;
        if (value && isTrue(value)) continue;
        if (value && value.type !== 'false') continue; // set from configuration: trust it
        ctx.report({
          node: call,
          severity: value ? undefined : 'warning',
          message: value
            ? `\`torch.load(${src})\` with \`weights_only=False\` unpickles the file: a crafted model file executes code on the server.`
            : `\`torch.load(${src})\` without \`weights_only=True\` unpickles arbitrary objects on PyTorch before 2.6: pin \`weights_only=True\` so a crafted model file cannot execute code.`,
        });
      }
    }
  },
};
