#!/usr/bin/env node
// Build step, after tsc and `oclif manifest`: bundles @oclif/core and its dependencies into one CommonJS file, dist/oclif-core.cjs (plus
// its V8 code cache, dist/oclif-core.cjs.v8cache), with an ES module in front of it, dist/oclif-core.js, and points the
// compiled code's imports of '@oclif/core' at that (dist/**/*.js; bin/mgen imports it directly).
// Why: Node 20 has no module compile cache, and loading @oclif/core as its ~170 small CommonJS files (resolve, read,
// compile each) was most of the CLI's start (`mgen --version`); the same code as one file loads in about half the
// time (bench/startup.mjs). It is the same @oclif/core, pinned in package.json; only the packaging changes, so help,
// flags, errors and exit codes are oclif's own. Without esbuild installed, dist/oclif-core.cjs re-exports
// node_modules' @oclif/core instead (correct, just slower to start).
import {readdirSync, readFileSync, writeFileSync} from 'node:fs';
import {createRequire} from 'node:module';
import {dirname, join, relative, resolve, sep} from 'node:path';
import {fileURLToPath} from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'dist');
const OUT = join(DIST, 'oclif-core.cjs');
const FRONT = join(DIST, 'oclif-core.js');
const require = createRequire(join(ROOT, 'package.json'));

const names = Object.keys(require('@oclif/core')).filter((n) => n !== 'default' && n !== '__esModule');
let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  console.warn('bundle-start: esbuild is not installed (npm ci installs it); dist/oclif-core.cjs re-exports @oclif/core unbundled');
}
if (esbuild) {
  await esbuild.build({
    entryPoints: [require.resolve('@oclif/core')],
    outfile: OUT,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    // Class names stay as written: errors are recognised by name (ExitError, CLIError).
    keepNames: true,
    // Only oclif's development mode (running src/*.ts) loads typescript; leave it to node_modules.
    external: ['typescript', 'ts-node', 'tsx'],
    logLevel: 'warning',
  });
  // V8 code caches drop vm.Script's importModuleDynamically on Node 20 (import() from cached code fails with
  // ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING), so the bundle's import() calls (oclif loading commands and hooks) go
  // through __mgenImport, a plain import() the front passes in.
  const DYNAMIC_IMPORT = /(?<![\w$."'`])import\((?=\s*[^\s)])/g;
  // oclif sorts the manifest's commands with localeCompare on every start; the first localeCompare in a process makes
  // V8 build ICU's collator locale set, about 69 M instructions (callgrind: 8% of `mgen inspect` on a file, more than
  // Node's own start without NODE_EXTRA_CA_CERTS). Command ids are lowercase ASCII words joined by ':', which
  // code-unit order sorts exactly as the root collation does.
  const SORT_COMMANDS = '.sort((a, b) => a.id.localeCompare(b.id))';
  let bundled = readFileSync(OUT, 'utf8').replace(DYNAMIC_IMPORT, '__mgenImport(');
  if (bundled.split(SORT_COMMANDS).length === 2) bundled = bundled.replace(SORT_COMMANDS, '.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))');
  else console.warn('bundle-start: @oclif/core no longer sorts commands as expected; left as it is');
  // oclif's engine check on every start: loads semver (dozens of regular expressions built at load) and reads
  // package.json through require(), 11 M instructions (callgrind) to compare two versions. In the bundle it reads mgen's
  // package.json (the bundle sits in dist/), whose range is known now: a plain `>=X.Y.Z` is compared as numbers, and
  // semver still decides for a pre-release Node (semver treats those differently).
  const ENGINE_CHECK = /const semver = (require_semver\d*)\(\);\s*const root = path\.join\(__dirname, "\.\."\);\s*const pjson = require\(path\.join\(root, "package\.json"\)\);\s*if \(!semver\.satisfies\(process\.versions\.node, pjson\.engines\.node\)\) \{/;
  const range = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).engines?.node;
  const floor = /^\s*>=\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?\s*$/.exec(range ?? '');
  if (floor && ENGINE_CHECK.test(bundled)) {
    const [major, minor = 0, patch = 0] = floor.slice(1).map((x) => Number(x ?? 0));
    bundled = bundled.replace(ENGINE_CHECK, (_m, semver) => `const pjson = {engines: {node: ${JSON.stringify(range)}}};
    const v = process.versions.node;
    const [major, minor, patch] = v.split(".").map(Number);
    const ok = v.includes("-") ? ${semver}().satisfies(v, pjson.engines.node) : major !== ${major} ? major > ${major} : minor !== ${minor} ? minor > ${minor} : patch >= ${patch};
    if (!ok) {`);
  } else console.warn('bundle-start: @oclif/core\'s engine check or package.json engines.node is not as expected; left as it is');
  // Modules oclif requires at load but uses only off mgen's path: tinyglobby (with fdir and picomatch) finds command
  // files when there is no manifest, readline reads flags from stdin, perf_hooks serves OCLIF_PERFORMANCE. Each is
  // loaded on its first property read instead (13 M instructions at every start). Only names that are used for
  // nothing but property reads are made lazy.
  const LAZY = [/var (tinyglobby_1) = (require_dist\d*\(\));/, /var (node_readline_1) = (require\("node:readline"\));/, /var (node_perf_hooks_1) = (require\("node:perf_hooks"\));/];
  let lazy = 0;
  for (const re of LAZY) {
    const m = re.exec(bundled);
    if (!m || bundled.split(m[0]).length !== 2) continue;
    const uses = [...bundled.matchAll(new RegExp(`(?<![\\w$])${m[1]}(?![\\w$])`, 'g'))].length;
    const reads = [...bundled.matchAll(new RegExp(`(?<![\\w$])${m[1]}\\.[\\w$]+`, 'g'))].length;
    if (uses !== reads + 1) continue;
    bundled = bundled.replace(m[0], `var ${m[1]} = __mgenLazy(() => ${m[2]});`);
    lazy++;
  }
  if (lazy > 0) bundled = bundled.replace(/^"use strict";\n/, '"use strict";\n// scripts/bundle-start.mjs: a module loaded on its first property read.\nvar __mgenLazy = (load) => {\n  let m;\n  return new Proxy({}, {get: (_t, k) => (m ??= load())[k]});\n};\n');
  if (lazy !== LAZY.length) console.warn(`bundle-start: ${LAZY.length - lazy} of oclif's requires to defer were not found as expected; left as they are`);
  writeFileSync(OUT, bundled);
} else {
  writeFileSync(OUT, `'use strict';\nmodule.exports = require('@oclif/core');\n`);
}
// The front loads the bundle as CommonJS (require semantics, its own __dirname), not through `import`: importing
// CommonJS from an ES module makes Node 20 scan the whole file for its export names (cjs-module-lexer), which on a
// 750 KB bundle costs more than the bundling saves. It also hands V8 the code cache written at the end, so the bundle is not
// compiled again on every start (Node 20 has no module compile cache; 22's module.enableCompileCache does this).
// A cache that does not fit (another Node or V8 flags, a changed bundle) is rejected by V8, which then compiles as usual.
const WRAP = ['(function (exports, require, module, __filename, __dirname, __mgenImport) { ', '\n})'];
const front = (names) => `// Generated by scripts/bundle-start.mjs: @oclif/core for the compiled CLI, from its one-file bundle.
import {appendFileSync, readFileSync, writeFileSync} from 'node:fs';
import {createRequire} from 'node:module';
import {dirname} from 'node:path';
import {fileURLToPath} from 'node:url';
import vm from 'node:vm';

const file = fileURLToPath(new URL('./oclif-core.cjs', import.meta.url));
let cachedData;
try {
  cachedData = readFileSync(file + '.v8cache');
} catch {}
const script = new vm.Script(${JSON.stringify(WRAP[0])} + readFileSync(file, 'utf8') + ${JSON.stringify(WRAP[1])}, {filename: file, cachedData});
// Tests: whether V8 took the cache (one line per code-cached file loaded).
if (process.env.MGEN_CODE_CACHE_LOG) appendFileSync(process.env.MGEN_CODE_CACHE_LOG, \`\${file} \${cachedData ? (script.cachedDataRejected ? 'rejected' : 'accepted') : 'none'}\\n\`);
const module = {exports: {}, filename: file, id: file, loaded: false};
script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file), (specifier) => import(specifier));
module.loaded = true;
// The build (scripts/bundle-start.mjs) sets this to write the cache from a real command: what it compiled, loading
// the bundle and then running the command, is what the next start need not compile.
if (process.env.MGEN_BUILD_CODE_CACHE) process.on('exit', () => writeFileSync(process.env.MGEN_BUILD_CODE_CACHE, script.createCachedData()));
export const {${names.join(', ')}} = module.exports;
`;
writeFileSync(FRONT, front(names));

// Repoint `from '@oclif/core'` (tsc keeps the specifier as written) at the bundle, relative to each file.
const SPEC = /(\bfrom\s*|\bimport\s*\(\s*)(['"])@oclif\/core\2/g;
let files = 0;
const walk = (dir) => {
  for (const e of readdirSync(dir, {withFileTypes: true})) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name.endsWith('.js')) {
      const src = readFileSync(p, 'utf8');
      if (p === FRONT) continue;
      let rel = relative(dirname(p), FRONT).split(sep).join('/');
      if (!rel.startsWith('.')) rel = `./${rel}`;
      const out = src.replace(SPEC, (_m, pre, q) => `${pre}${q}${rel}${q}`);
      if (out !== src) {
        writeFileSync(p, out);
        files++;
      }
      if (/['"]@oclif\/core(\/[^'"]*)?['"]/.test(out)) throw new Error(`bundle-start: ${relative(ROOT, p)} still imports @oclif/core by name`);
    }
  }
};
walk(DIST);
console.log(`bundle-start: ${esbuild ? 'bundled' : 're-exported'} @oclif/core into dist/oclif-core.cjs (front: dist/oclif-core.js); ${files} compiled files repointed`);

// The detection library is ~60 small ES modules (one per rule, per analysis); loading them one by one was a third of
// `mgen inspect`. Bundle into each root below the modules that only it uses: a module is inlined when every compiled
// file importing it is itself inlined, it is not another root, and it does not locate files from its own
// import.meta.url. Everything else (modules other code also imports, packages, node:*) stays an import of the one
// shared file, so no class or module state ever exists twice; so does what a module loads with import(), which would
// otherwise have its own imports hoisted to the bundle's top and loaded eagerly. Imports are found by their literal specifiers (every
// import() in src names its module literally).
/** Rewrites `root` as one ES module holding the `inlined` modules; every other import stays, relative to `root`. */
async function bundleInto(root, inlined) {
  await esbuild.build({
    entryPoints: [root],
    outfile: root,
    allowOverwrite: true,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    keepNames: true,
    plugins: [{
      name: 'keep-shared',
      setup(b) {
        b.onResolve({filter: /.*/}, (args) => {
          if (args.kind === 'entry-point') return undefined;
          if (!args.path.startsWith('.')) return {path: args.path, external: true};
          const target = resolve(args.resolveDir, args.path);
          if (inlined.has(target)) return {path: target};
          let rel = relative(dirname(root), target).split(sep).join('/');
          if (!rel.startsWith('.')) rel = `./${rel}`;
          return {path: rel, external: true};
        });
      },
    }],
    logLevel: 'warning',
  });
}

const ROOTS = ['detect/index.js', 'detect/collect-facts.js'];
const IMPORT = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.{1,2}\/[^'"]+)\2/g;
const compiled = [];
const list = (dir) => {
  for (const e of readdirSync(dir, {withFileTypes: true})) {
    const p = join(dir, e.name);
    if (e.isDirectory()) list(p);
    else if (e.name.endsWith('.js')) compiled.push(p);
  }
};
list(DIST);
const importersOf = new Map();
const importsOf = new Map(); // static imports only: what import() loads later stays a file of its own
const usesOwnUrl = new Set();
for (const f of compiled) {
  const src = readFileSync(f, 'utf8');
  if (src.includes('import.meta')) usesOwnUrl.add(f);
  const found = [...src.matchAll(IMPORT)].map((m) => ({target: resolve(dirname(f), m[3]), dynamic: m[1].includes('(')}));
  importsOf.set(f, found.filter((i) => !i.dynamic).map((i) => i.target));
  for (const {target} of found) importersOf.set(target, (importersOf.get(target) ?? new Set()).add(f));
}
if (esbuild) {
  const roots = ROOTS.map((r) => join(DIST, r));
  for (const root of roots) {
    const inlined = new Set();
    const reach = (f) => {
      if (inlined.has(f) || !importsOf.has(f)) return;
      inlined.add(f);
      for (const t of importsOf.get(f)) reach(t);
    };
    reach(root);
    for (let changed = true; changed; ) {
      changed = false;
      for (const m of inlined) {
        if (m === root) continue;
        if (roots.includes(m) || usesOwnUrl.has(m) || [...(importersOf.get(m) ?? [])].some((i) => !inlined.has(i))) {
          inlined.delete(m);
          changed = true;
        }
      }
    }
    await bundleInto(root, inlined);
    console.log(`bundle-start: ${relative(DIST, root)} now holds ${inlined.size} modules only it uses`);
  }
}

// Each command with its own modules (issue 17): `mgen inspect` loaded ~20 compiled modules one by one, each a resolve, a
// read and a compile of its own through Node's ES module loader. Each dist/commands/**/*.js now also holds the modules
// it loads itself, statically or with its own import() calls, and what those import statically; import() targets stay
// lazy (esbuild wraps them: a module runs when the command first imports it, as before). What the command's modules
// reach only through their own import() calls stays a file (inlining every reachable module made `inspect` a 330 KB
// file, which cost more to parse than the separate loads). No module ever exists twice in a process: a module is
// inlined only when nothing left as a file reaches it, and the modules that locate files from their own
// import.meta.url (the @oclif/core front, the python-runtime finder, ...) stay files with all they reach.
if (esbuild) {
  const all = [];
  compiled.length = 0; // listed again: the detect roots above were rewritten
  list(DIST);
  const edges = new Map(); // file -> [{target, dynamic}]
  const ownUrl = [];
  for (const f of compiled.splice(0)) {
    const src = readFileSync(f, 'utf8');
    if (src.includes('import.meta')) ownUrl.push(f);
    edges.set(f, [...src.matchAll(IMPORT)].map((m) => ({target: resolve(dirname(f), m[3]), dynamic: m[1].includes('(')})));
    all.push(f);
  }
  const closure = (starts, follow = () => true) => {
    const seen = new Set();
    const visit = (f) => {
      if (seen.has(f) || !edges.has(f)) return;
      seen.add(f);
      for (const e of edges.get(f)) if (follow(e)) visit(e.target);
    };
    starts.forEach(visit);
    return seen;
  };
  const shared = closure(ownUrl);
  const commands = all.filter((f) => f.startsWith(join(DIST, 'commands') + sep) && !shared.has(f));
  let modules = 0;
  for (const command of commands) {
    const own = [command, ...edges.get(command).map((e) => e.target)];
    const inlined = closure(own, (e) => !e.dynamic);
    for (const s of shared) inlined.delete(s);
    // Whatever stays a file, and all it reaches, must not also be inlined.
    for (let changed = true; changed; ) {
      changed = false;
      const outside = [];
      for (const m of inlined) for (const e of edges.get(m)) if (!inlined.has(e.target)) outside.push(e.target);
      for (const m of closure(outside)) {
        if (m !== command && inlined.delete(m)) changed = true;
      }
    }
    modules += inlined.size;
    await bundleInto(command, inlined);
  }
  console.log(`bundle-start: ${commands.length} commands bundled with their own modules (${modules} in all); ${shared.size} shared modules stay files`);
}

// Each command from a V8 code cache too (issue 17). Node 20 compiles every ES module from source on every start, and
// `mgen inspect`'s command file (~220 KB with the detection rules) was the largest thing it compiled: callgrind, 30 M
// instructions to parse it and ~35 M more to compile the functions that ran. So each bundled command's code moves, as
// CommonJS, into dist/start/commands/<id>.cjs, and dist/commands/<id>.js becomes a small ES module in front of it
// that imports what the command imported (the shared modules, @oclif/core's front, packages, node:*) and runs
// the body with V8's code cache for it, as dist/oclif-core.js does for @oclif/core. Nothing else changes: the same
// modules are evaluated in the same order (the front's imports are the body's imports, in order), the body runs
// in strict mode as an ES module would, import() resolves from the command's own path, and the front exports what the
// command exported. A command that does not fit (import.meta, an import() of something other than a string literal)
// stays as it is.
const CACHED_COMMANDS = join(DIST, 'start', 'commands');
if (esbuild) {
  const {mkdirSync} = await import('node:fs');
  const vm = await import('node:vm');
  const BODY_WRAP = ['(function (exports, require, module, __filename, __dirname, __mgenImport) {"use strict";', '\n})'];
  const commandFiles = [];
  list(join(DIST, 'commands'));
  for (const f of compiled.splice(0)) if (f.startsWith(join(DIST, 'commands') + sep)) commandFiles.push(f);
  let converted = 0;
  const skipped = [];
  for (const front of commandFiles) {
    const id = relative(join(DIST, 'commands'), front).replace(/\.js$/, '');
    const src = readFileSync(front, 'utf8');
    // esbuild writes a bundle's imports as `import ... from "x";` / `import "x";` lines, and its exports as one list.
    const imports = [...src.matchAll(/^import\s+(?:[^'";]*?\s+from\s+)?"([^"]+)";$/gm)].map((m) => m[1]);
    const exportList = /^export\s*\{([^}]*)\};?\s*$/m.exec(src);
    if (src.includes('import.meta') || !exportList || /^export\s+(?!\{)/m.test(src)) {
      skipped.push(id);
      continue;
    }
    const names = exportList[1].split(',').map((s) => s.trim()).filter(Boolean).map((s) => s.split(/\s+as\s+/).at(-1));
    let body;
    try {
      body = (await esbuild.transform(src, {format: 'cjs', platform: 'node', target: 'node20', loader: 'js', logLevel: 'silent'})).code;
    } catch {
      skipped.push(id);
      continue;
    }
    // import() from a code-cached script fails on Node 20 (see above): literal specifiers go through the front's import().
    body = body.replace(/(?<![\w$.])import\((?=\s*["'])/g, '__mgenImport(');
    if (/(?<![\w$.])import\s*\(/.test(body)) {
      skipped.push(id);
      continue;
    }
    const bodyFile = join(CACHED_COMMANDS, `${id}.cjs`);
    mkdirSync(dirname(bodyFile), {recursive: true});
    writeFileSync(bodyFile, body);
    // A first cache from compiling alone (every function's place, no parse of the whole file at start); the build's
    // `mgen inspect` run below replaces inspect's with one that holds every function that run compiled.
    const wrapped = BODY_WRAP[0] + body + BODY_WRAP[1];
    writeFileSync(`${bodyFile}.v8cache`, new vm.Script(wrapped, {filename: bodyFile}).createCachedData());
    let bodyRel = relative(dirname(front), bodyFile).split(sep).join('/');
    if (!bodyRel.startsWith('.')) bodyRel = `./${bodyRel}`;
    const unique = [...new Set(imports)];
    writeFileSync(front, `// Generated by scripts/bundle-start.mjs: the command \`${id.split(sep).join(' ')}\`, run from ${bodyRel} with its V8 code cache.
${unique.map((s, i) => `import * as i${i} from ${JSON.stringify(s)};`).join('\n')}
import {appendFileSync as appendFileSync$, readFileSync as readFileSync$, writeFileSync as writeFileSync$} from 'node:fs';
import {dirname as dirname$} from 'node:path';
import {fileURLToPath as fileURLToPath$} from 'node:url';
import vm$ from 'node:vm';

const imported$ = new Map([${unique.map((s, i) => `[${JSON.stringify(s)}, i${i}]`).join(', ')}]);
// What the body's require() returns for an import: the module's namespace, marked as an ES module (esbuild's
// interop then reads \`default\` from it as an import would), its bindings live.
const asRequired$ = new Map();
const require$ = (specifier) => {
  if (!asRequired$.has(specifier)) {
    const ns = imported$.get(specifier);
    if (!ns) throw new Error(\`\${specifier}: not an import of this command\`);
    const required = Object.defineProperty({}, '__esModule', {value: true});
    for (const k of Object.keys(ns)) Object.defineProperty(required, k, {enumerable: true, get: () => ns[k]});
    asRequired$.set(specifier, required);
  }
  return asRequired$.get(specifier);
};
const file$ = fileURLToPath$(new URL(${JSON.stringify(bodyRel)}, import.meta.url));
let cachedData$;
try {
  cachedData$ = readFileSync$(file$ + '.v8cache');
} catch {}
const script$ = new vm$.Script(${JSON.stringify(BODY_WRAP[0])} + readFileSync$(file$, 'utf8') + ${JSON.stringify(BODY_WRAP[1])}, {filename: file$, cachedData: cachedData$});
if (process.env.MGEN_CODE_CACHE_LOG) appendFileSync$(process.env.MGEN_CODE_CACHE_LOG, \`\${file$} \${cachedData$ ? (script$.cachedDataRejected ? 'rejected' : 'accepted') : 'none'}\\n\`);
const module$ = {exports: {}};
script$.runInThisContext()(module$.exports, require$, module$, file$, dirname$(file$), (specifier) => import(specifier));
if (process.env.MGEN_BUILD_CODE_CACHE) process.on('exit', () => writeFileSync$(file$ + '.v8cache', script$.createCachedData()));
${names.map((n) => (n === 'default' ? 'export default module$.exports.default;' : `export const ${n} = module$.exports.${n};`)).join('\n')}
`);
    converted++;
  }
  console.log(`bundle-start: ${converted} commands run from code-cached bodies in dist/start/commands${skipped.length ? ` (left as they were: ${skipped.join(', ')})` : ''}`);
}

// The code cache, from `mgen inspect` on a tiny safetensors file: needs the oclif manifest (`oclif manifest` runs
// before this script) for the command to run as it does for users.
if (esbuild) {
  const {execFileSync} = await import('node:child_process');
  const {mkdtempSync, rmSync} = await import('node:fs');
  const {tmpdir} = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'mgen-code-cache-'));
  try {
    const header = Buffer.from(JSON.stringify({'model.diffusion_model.out.2.weight': {dtype: 'F16', shape: [4, 320, 3, 3], data_offsets: [0, 23040]}}));
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(header.length));
    const file = join(dir, 'tiny.safetensors');
    writeFileSync(file, Buffer.concat([length, header, Buffer.alloc(23040)]));
    const cache = `${OUT}.v8cache`;
    rmSync(cache, {force: true});
    try {
      execFileSync(process.execPath, [join(ROOT, 'bin', 'mgen'), 'inspect', file], {stdio: 'ignore', env: {...process.env, MGEN_BUILD_CODE_CACHE: cache}});
    } catch {
      // An exit code other than 0 (no family recognised) still writes the cache; a missing cache only costs time.
    }
    console.log(`bundle-start: ${readdirSync(DIST).includes('oclif-core.cjs.v8cache') ? 'wrote' : 'could not write'} the V8 code cache dist/oclif-core.cjs.v8cache`);
  } finally {
    rmSync(dir, {recursive: true, force: true});
  }
}
