#!/usr/bin/env node
// Build step for the playground page that `mgen serve` shows at / (src/ui -> dist/ui): esbuild bundles and
// minifies src/ui/main.ts and src/ui/style.css into content-hashed files (app-<hash>.js, style-<hash>.css, served
// with a year-long cache), writes index.html pointing at them, and a gzip copy of each for clients that take it.
// Type checking is `npm run typecheck` (src/ui/tsconfig.json); esbuild only strips the types.
import {createHash} from 'node:crypto';
import {mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {dirname, join, resolve} from 'node:path';
import {fileURLToPath} from 'node:url';
import {gzipSync} from 'node:zlib';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'src', 'ui');
const OUT = process.argv[2] ? resolve(process.argv[2]) : join(ROOT, 'dist', 'ui');
const esbuild = await import('esbuild');

const build = async (entry, loader) => {
  const r = await esbuild.build({
    entryPoints: [join(SRC, entry)], bundle: true, minify: true, write: false, format: 'esm', target: 'es2020',
    platform: 'browser', legalComments: 'none', logLevel: 'warning', ...(loader ? {loader} : {}),
  });
  return Buffer.from(r.outputFiles[0].contents);
};
const hashed = (stem, ext, body) => `${stem}-${createHash('sha256').update(body).digest('hex').slice(0, 10)}.${ext}`;

rmSync(OUT, {recursive: true, force: true});
mkdirSync(OUT, {recursive: true});
const files = {};
const js = await build('main.ts');
const css = await build('style.css');
files[hashed('app', 'js', js)] = js;
files[hashed('style', 'css', css)] = css;
const [jsName, cssName] = Object.keys(files);
const html = readFileSync(join(SRC, 'index.html'), 'utf8').replaceAll('{{js}}', jsName).replaceAll('{{css}}', cssName);
if (/\{\{|<script(?![^>]*\bsrc=)[^>]*>/.test(html)) throw new Error('build-ui: index.html has an unfilled {{...}} or an inline script');
files['index.html'] = Buffer.from(html.replace(/\n\s*/g, '\n'));
let gz = 0;
for (const [name, body] of Object.entries(files)) {
  writeFileSync(join(OUT, name), body);
  const z = gzipSync(body, {level: 9});
  writeFileSync(join(OUT, `${name}.gz`), z);
  gz += z.length;
}
console.log(`build-ui: ${Object.keys(files).join(', ')} in ${OUT.startsWith(ROOT) ? OUT.slice(ROOT.length + 1) : OUT} (${(gz / 1024).toFixed(1)} kB gzipped)`);
