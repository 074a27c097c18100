// `genrm info`: human-readable or --json.
import { info, type EngineInfo } from '../info.js';
import { resolvePrecision } from '../model/model.js';

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

function precisionText(): string {
  try {
    return `${resolvePrecision(undefined)} (GENRM_PRECISION)`;
  } catch (e) {
    return `unknown: ${(e as Error).message}`;
  }
}

export function formatInfo(i: EngineInfo): string {
  const features = Object.entries(i.cpu.features)
    .filter(([, on]) => on)
    .map(([name]) => name);
  const lines = [
    `genrm ${i.version} (Node ${i.node}, ${i.platform})`,
    `binary:   ${i.binary.path}`,
    `          ${i.binary.build} build, N-API ${i.binary.napiVersion}, compiler ${i.binary.compiler}`,
    `backend:  ${i.backend} (GENRM_DEVICE=${i.requestedDevice})`,
    `cpu:      ${i.cpu.brand}`,
    `          features ${features.join(' ') || 'none'}; kernel path ${i.cpu.isa} (supported: ${i.cpu.supportedIsas.join(', ')})`,
    `threads:  ${i.threads}`,
  ];
  const c = i.cuda;
  if (!c.compiled) {
    lines.push(`cuda:     not in this binary${c.error ? ` (${c.error})` : ''}`);
  } else {
    const ver = (v: number) => (v ? `${Math.floor(v / 1000)}.${(v % 1000) / 10}` : 'none');
    lines.push(
      `cuda:     runtime ${ver(c.runtimeVersion)}, driver ${ver(c.driverVersion)}, code for ${c.architectures}`,
    );
    for (const d of c.devices)
      lines.push(
        `          [${d.index}] ${d.name}, sm ${d.computeCapability}, ${gib(d.totalMemory)}, ${d.multiprocessors} SMs`,
      );
    const gemm = process.env.GENRM_CUDA_GEMM?.trim();
    lines.push(
      `          GEMM: ${c.cublas ? 'cuBLAS' : "the project's own tensor-core kernel (no cuBLAS in this binary)"}${gemm ? ` (GENRM_CUDA_GEMM=${gemm})` : ''}`,
    );
    const onDevice = i.backend === 'cuda' ? `; models run there, matrix arithmetic ${precisionText()}` : '';
    lines.push(c.usable ? `          usable${onDevice}` : `          not usable: ${c.error ?? 'unknown reason'}`);
  }
  lines.push('loader:');
  for (const a of i.loader)
    lines.push(`  ${a.binary}: ${a.outcome}${a.path ? ` ${a.path}` : ''}${a.reason ? ` (${a.reason})` : ''}`);
  return lines.join('\n');
}

export function runInfo(options: { json?: boolean }): void {
  const i = info();
  process.stdout.write(options.json ? JSON.stringify(i, null, 2) + '\n' : formatInfo(i) + '\n');
}
