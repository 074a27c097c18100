// genrm's public API.
export { info, configure, type EngineInfo, type EngineSettings } from './info.js';
export * as kernels from './kernels.js';
export { loadEngine, native, parseDevice, DEVICES, type Backend, type CudaStatus, type DeviceRequest, type Engine, type Isa, type LoadAttempt } from './native.js';
export { packageRoot, packageVersion } from './package-root.js';
