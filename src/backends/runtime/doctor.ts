// `mgen runtime doctor`: re-checks the runtime for real (starts Python, imports torch and diffusers, asks
// CUDA) and says what is wrong with a fix for each problem.
import {mkdir, statfs} from 'node:fs/promises';
import {mgenHome, pythonRuntimeDir} from '../paths.js';
import {hasWorkingNvidiaSmi} from './profile.js';
import {findRuntime} from './resolve.js';
import {lastLine, runProcess} from './run-process.js';

export interface DoctorReport {
  ok: boolean;
  python: string | null;
  source: string | null;
  profile: string | null;
  versions: {python?: string; torch?: string; diffusers?: string; transformers?: string; cuda?: string | null; mgen_runtime?: string | null};
  device: 'cuda' | 'mps' | 'cpu' | null;
  gpu: {name: string; free_bytes: number; total_bytes: number} | null;
  nvidia_smi: boolean;
  mgen_home: string;
  disk_free_bytes: number | null;
  problems: Array<{problem: string; fix: string}>;
}

const PROBE = `
import json, sys
out = {"python": "%d.%d.%d" % sys.version_info[:3]}
try:
    import torch
    out["torch"] = torch.__version__
    out["cuda"] = torch.version.cuda
    out["cuda_available"] = bool(torch.cuda.is_available())
    if out["cuda_available"]:
        free, total = torch.cuda.mem_get_info(0)
        out["gpu"] = {"name": torch.cuda.get_device_name(0), "free_bytes": int(free), "total_bytes": int(total)}
    out["mps"] = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
except Exception as e:
    out["torch_error"] = "%s: %s" % (type(e).__name__, e)
for mod in ("diffusers", "transformers", "mgen_runtime"):
    try:
        m = __import__(mod)
        out[mod] = getattr(m, "__version__", "present")
    except Exception as e:
        out[mod + "_error"] = "%s: %s" % (type(e).__name__, e)
print(json.dumps(out))
`;

export async function runDoctor(env: NodeJS.ProcessEnv = process.env): Promise<DoctorReport> {
  const home = mgenHome(env);
  const report: DoctorReport = {
    ok: true, python: null, source: null, profile: null, versions: {}, device: null, gpu: null,
    nvidia_smi: hasWorkingNvidiaSmi(), mgen_home: home, disk_free_bytes: null, problems: [],
  };
  try {
    await mkdir(home, {recursive: true});
    const fs = await statfs(home);
    report.disk_free_bytes = Number(fs.bavail) * Number(fs.bsize);
    if (report.disk_free_bytes < 10 * 2 ** 30) {
      report.problems.push({problem: `only ${(report.disk_free_bytes / 2 ** 30).toFixed(1)} GiB free under ${home}`, fix: 'free disk space or set MGEN_HOME to a larger disk (models need several GB)'});
    }
  } catch (err) {
    report.problems.push({problem: `cannot use MGEN_HOME ${home}: ${(err as Error).message}`, fix: 'set MGEN_HOME to a writable folder'});
  }
  let loc;
  try {
    loc = await findRuntime(env);
  } catch (err) {
    report.problems.push({problem: (err as Error).message, fix: 'unset MGEN_PYTHON or point it at a Python with torch and diffusers'});
  }
  if (!loc) {
    if (!report.problems.length || report.problems.every((p) => !p.problem.includes('MGEN_PYTHON'))) {
      report.problems.push({problem: 'no Python runtime is provisioned', fix: 'run `mgen runtime install`'});
    }
    report.ok = false;
    return report;
  }
  report.python = loc.python;
  report.source = loc.source;
  report.profile = loc.stamp?.profile ?? null;
  const r = await runProcess(loc.python, ['-c', PROBE], {env: {...env, PYTHONPATH: pythonRuntimeDir()}, timeoutMs: 300_000});
  if (r.code !== 0) {
    report.problems.push({problem: `the runtime's Python does not run: ${lastLine(r.stderr) || r.error?.message || 'no output'}`, fix: 'run `mgen runtime install --force`'});
    report.ok = false;
    return report;
  }
  const p = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
  report.versions = {
    python: p.python as string, torch: p.torch as string | undefined, cuda: (p.cuda as string | null) ?? null,
    diffusers: p.diffusers as string | undefined, transformers: p.transformers as string | undefined,
    mgen_runtime: (p.mgen_runtime as string | undefined) ?? null,
  };
  for (const mod of ['torch', 'diffusers', 'transformers', 'mgen_runtime']) {
    if (p[`${mod}_error`]) {
      report.problems.push({
        problem: `${mod} does not import: ${String(p[`${mod}_error`])}`,
        fix: mod === 'mgen_runtime' ? `check that ${pythonRuntimeDir()} exists` : 'run `mgen runtime install --force`',
      });
    }
  }
  report.device = p.cuda_available ? 'cuda' : p.mps ? 'mps' : p.torch ? 'cpu' : null;
  report.gpu = (p.gpu as DoctorReport['gpu']) ?? null;
  if (report.nvidia_smi && !p.cuda_available && p.torch) {
    report.problems.push({
      problem: `an NVIDIA GPU is present but torch ${String(p.torch)} cannot use it${p.cuda ? '' : ' (a CPU-only build)'}`,
      fix: 'run `mgen runtime install --profile cuda`',
    });
  }
  report.ok = report.problems.length === 0;
  return report;
}
