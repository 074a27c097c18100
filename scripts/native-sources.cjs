// Lists the engine's C++ sources for binding.gyp, so the CPU build and the CMake
// build (which globs the same folders) can never disagree on what is compiled.
//   node scripts/native-sources.cjs portable  -> every .cpp but the *_avx2 / *_avx512 units
//   node scripts/native-sources.cjs avx2      -> the *_avx2.cpp units (built with -mavx2 -mfma)
//   node scripts/native-sources.cjs avx512    -> the *_avx512.cpp units (built with -mavx512f too)
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const folders = ['native/core', 'native/cpu', 'native/model', 'native/ops', 'native/napi'];
const kind = process.argv[2];
if (kind !== 'portable' && kind !== 'avx2' && kind !== 'avx512') {
  console.error('usage: native-sources.cjs portable|avx2|avx512');
  process.exit(2);
}
const files = [];
for (const folder of folders) {
  const dir = path.join(root, folder);
  if (!fs.existsSync(dir)) continue;
  for (const name of fs.readdirSync(dir).sort()) {
    if (!name.endsWith('.cpp')) continue;
    const unit = name.endsWith('_avx2.cpp') ? 'avx2' : name.endsWith('_avx512.cpp') ? 'avx512' : 'portable';
    if (unit === kind) files.push(`${folder}/${name}`);
  }
}
if (kind === 'portable') files.push('native/cuda/no_cuda.cpp', 'native/cuda/no_cuda_ops.cpp');
process.stdout.write(files.join('\n') + '\n');
