import { writeSafetensors, openSafetensors } from './lib/model/safetensors.js';
const n = 200_000;
const tensors = Array.from({ length: n }, (_, i) => ({ name: `model.layers.${i}.weight`, dtype: 'F32' as const, shape: [1], data: new Float32Array([i]) }));
await writeSafetensors('/tmp/big-header.safetensors', tensors, undefined, { fsync: false });
for (let k = 0; k < 3; k++) {
const t0 = performance.now();
const r = await openSafetensors('/tmp/big-header.safetensors');
console.log('open', performance.now() - t0, r.headerBytes, r.tensors.length);
await r.close();
}
