// What `genrm info` reports: the package, the binary in use and why, the CPU
// and its kernel path, threads, and CUDA devices or the reason there are none.
import { native, type Backend, type CudaStatus, type DeviceRequest, type Isa, type LoadAttempt } from './native.js';
import { packageVersion } from './package-root.js';

export interface EngineInfo {
  version: string;
  node: string;
  platform: string;
  binary: { path: string; build: Backend; napiVersion: number; compiler: string };
  backend: Backend;
  requestedDevice: DeviceRequest;
  cpu: { brand: string; features: Record<string, boolean>; supportedIsas: Isa[]; isa: Isa };
  threads: number;
  /** Native models alive in this process: ones neither disposed nor yet collected. */
  liveModels: number;
  cuda: CudaStatus;
  loader: LoadAttempt[];
}

export function info(): EngineInfo {
  const e = native();
  const n = e.binding.info();
  return {
    version: packageVersion(),
    node: process.versions.node,
    platform: `${process.platform}-${process.arch}`,
    binary: { path: e.path, build: n.build, napiVersion: n.napiVersion, compiler: n.compiler },
    backend: e.backend,
    requestedDevice: e.requested,
    cpu: n.cpu,
    threads: n.threads,
    liveModels: n.liveModels,
    cuda: e.binding.cudaStatus(),
    loader: e.attempts,
  };
}

export interface EngineSettings {
  /** Worker threads for CPU kernels (default: the CPUs this process may use, or GENRM_THREADS). */
  threads?: number;
  /** CPU kernel path (default: the best the CPU supports, or GENRM_ISA). */
  isa?: Isa;
}

/** Changes engine-wide settings; returns the resulting info. */
export function configure(settings: EngineSettings): EngineInfo {
  native().binding.configure(settings);
  return info();
}
