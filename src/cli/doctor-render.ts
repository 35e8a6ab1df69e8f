import type {DoctorReport} from '../backends/runtime/doctor.js';

const gib = (n: number) => `${(n / 2 ** 30).toFixed(1)} GiB`;

export function renderDoctor(r: DoctorReport): string {
  const v = r.versions;
  const rows: Array<[string, string]> = [
    ['python', r.python ? `${v.python ?? '?'} (${r.python}, ${r.source})` : 'none'],
    ['profile', r.profile ?? '-'],
    ['torch', v.torch ?? '-'],
    ['CUDA', v.cuda ?? (r.python ? 'none (CPU build)' : '-')],
    ['device', r.device ?? '-'],
    ['GPU', r.gpu ? `${r.gpu.name}, ${gib(r.gpu.free_bytes)} free of ${gib(r.gpu.total_bytes)}` : r.nvidia_smi ? 'nvidia-smi works, torch sees none' : 'none'],
    ['diffusers', v.diffusers ?? '-'],
    ['transformers', v.transformers ?? '-'],
    ['mgen_runtime', v.mgen_runtime ?? '-'],
    ['MGEN_HOME', `${r.mgen_home}${r.disk_free_bytes !== null ? ` (${gib(r.disk_free_bytes)} free)` : ''}`],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  const out = rows.map(([k, val]) => `${k.padEnd(w)}  ${val}`);
  if (r.problems.length) {
    out.push('', 'problems:');
    for (const p of r.problems) out.push(`  - ${p.problem}\n    fix: ${p.fix}`);
  } else {
    out.push('', 'ok: no problems found');
  }
  return out.join('\n') + '\n';
}
