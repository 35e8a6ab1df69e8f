// `node --import <this file> ...`: appends the path of every user module the process loads (ES modules through a
// loader hook, CommonJS through Module._load) to the file named by MGEN_MODULE_LOG, one a line. Used by
// test/scripts/bundle-start.test.ts to see what the CLI loads when it starts.
import {appendFileSync} from 'node:fs';
import Module, {register} from 'node:module';

const out = process.env.MGEN_MODULE_LOG;
if (out) {
  const hooks = `import {appendFileSync} from 'node:fs';
export async function load(url, context, next) {
  if (url.startsWith('file:')) appendFileSync(${JSON.stringify(out)}, 'esm ' + url + '\\n');
  return next(url, context);
}`;
  register(`data:text/javascript,${encodeURIComponent(hooks)}`);
  const load = Module._load;
  Module._load = function (request, parent, isMain) {
    try {
      const file = Module._resolveFilename(request, parent, isMain);
      if (file.startsWith('/')) appendFileSync(out, `cjs ${file}\n`);
    } catch {
      // load() reports it.
    }
    return load.apply(this, arguments);
  };
}
