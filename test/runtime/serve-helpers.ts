// Shared by the serve runtime tests: a real serve on 127.0.0.1:0 around a real session (openSession: the
// runtime's worker with builtin:tiny-sd loaded), the same way `mgen serve` builds it.
import {openSession} from '../../src/backends/session.js';
import {startServe, type RunningServe, type StartServeOptions} from '../../src/backends/server/server.js';
import {loadKeyFor} from '../../src/backends/server/load-key.js';
import {testEnv, testPython} from './support.js';

export const TINY = 'builtin:tiny-sd';

export async function openTiny(more: Partial<Parameters<typeof openSession>[0]> = {}): Promise<Awaited<ReturnType<typeof openSession>>> {
  const python = await testPython();
  return openSession({modelId: TINY, python, env: testEnv(), dtype: 'float32', device: 'cpu', ...more});
}

/** A real serve of builtin:tiny-sd on 127.0.0.1:0 (no state file unless `home` is given). */
export async function startTinyServe(extra: Partial<StartServeOptions> = {}, sessionExtra: Partial<Parameters<typeof openSession>[0]> = {}): Promise<RunningServe> {
  const session = await openTiny(sessionExtra);
  return startServe({
    modelId: TINY,
    report: session.model.report,
    session,
    reopen: () => openTiny(sessionExtra),
    host: '127.0.0.1',
    port: 0,
    home: null,
    loadKey: loadKeyFor({modelId: TINY, dtype: 'float32', device: 'cpu'}),
    ...extra,
  });
}
