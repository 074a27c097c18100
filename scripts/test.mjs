// npm test: builds what is missing or stale (CPU addon, TypeScript, prebuilds
// for the packaging test, the CUDA prebuild when nvcc exists), runs the
// TypeScript linter (eslint.config.mjs), the style check (scripts/format.mjs:
// Prettier and clang-format), the C++ harness, the CUDA parity cases
// with the kernels on the CPU simulator (native/cuda/sim), the ava suite, then
// the model-level ava files again with models "on the GPU" over the engine's
// CPU stand-in for a device (the CUDA model's TypeScript, N-API and host code,
// where there is no GPU), and ends with one line "N passed, N failed".
// PREBUILDS_ONLY=1 tests the shipped prebuilds instead of building the addon.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  compileCpu,
  compileTs,
  hasCommand,
  hostDoubleAddon,
  nativeTests,
  prebuildCuda,
  root,
  run,
  simTests,
} from './tasks.mjs';

const prebuildsOnly = !!process.env.PREBUILDS_ONLY;
const platformDir = `${process.platform}-${process.arch}`;

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function stale(file, ...inputs) {
  if (!existsSync(file)) return true;
  const t = statSync(file).mtimeMs;
  return inputs.some((input) => (statSync(input).isDirectory() ? newestMtime(input) : statSync(input).mtimeMs) > t);
}

function ava(args = process.argv.slice(2), env = process.env) {
  return new Promise((resolve) => {
    const child = spawn(join(root, 'node_modules', '.bin', 'ava'), ['--tap', ...args], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      process.stdout.write(d);
    });
    child.on('close', (code) => {
      const count = (name) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(out)?.[1] ?? 0);
      const passed = count('pass'),
        failed = count('fail'),
        skipped = count('skip') + count('todo');
      // A crash before the summary is a failure even if no test was counted as failed.
      resolve({ passed, failed: failed + (code !== 0 && failed === 0 ? 1 : 0), skipped });
    });
  });
}

let passed = 0,
  failed = 0,
  skipped = 0;
try {
  const cpuPrebuild = join(root, 'prebuilds', platformDir, 'genrm.node');
  if (!prebuildsOnly && stale(cpuPrebuild, join(root, 'native'), join(root, 'binding.gyp'))) {
    console.log('# building the CPU prebuild (npm run prebuild)');
    run('npm', ['run', '--silent', 'prebuild']);
  }
  if (!prebuildsOnly) compileCpu();
  const cudaPrebuild = join(root, 'cuda-addon', 'prebuilds', platformDir, 'genrm.node');
  if (!prebuildsOnly && hasCommand('nvcc') && stale(cudaPrebuild, join(root, 'native'), join(root, 'CMakeLists.txt'))) {
    console.log('# building the CUDA prebuild (npm run prebuild:cuda)');
    prebuildCuda();
  }
  compileTs();
  run(join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'test/tsconfig.json']);

  console.log('# lint (eslint)');
  const lint = spawnSync(
    join(root, 'node_modules', '.bin', 'eslint'),
    ['lib', 'bench', 'test', 'scripts', 'eslint.config.mjs'],
    { cwd: root, stdio: 'inherit' },
  );
  if (lint.status === 0) passed += 1;
  else failed += 1;

  console.log('# format (prettier, clang-format)');
  const format = spawnSync(process.execPath, [join(root, 'scripts', 'format.mjs'), '--check'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (format.status === 0) passed += 1;
  else failed += 1;

  console.log('# C++ engine tests');
  const n = nativeTests();
  passed += n.passed;
  failed += n.failed;
  skipped += n.skipped;

  console.log('# CUDA kernels on the CPU simulator (native/cuda/sim)');
  const s = await simTests();
  passed += s.passed;
  failed += s.failed;
  skipped += s.skipped;

  console.log('# ava');
  const a = await ava();
  passed += a.passed;
  failed += a.failed;
  skipped += a.skipped;

  // The files that drive models, again with every model on the "device".
  const double = hostDoubleAddon();
  const files = [
    'model',
    'model-fixtures',
    'hf-model-folder',
    'train',
    'generate',
    'generate-text',
    'genrm',
    'star',
  ].map((f) => `test/${f}.test.ts`);
  if (double && process.argv.length <= 2) {
    console.log('# ava, models on the CPU stand-in for a CUDA device (GENRM_DEVICE=cuda)');
    const d = await ava(files, {
      ...process.env,
      GENRM_DEVICE: 'cuda',
      GENRM_PRECISION: 'fp32',
      GENRM_CUDA_ADDON: double,
    });
    passed += d.passed;
    failed += d.failed;
    skipped += d.skipped;
  } else if (!double) {
    // Counted as skipped, one per file, so the closing line says it did not run.
    console.log(`# no N-API headers next to node: the device-path ava run of ${files.length} files is skipped`);
    skipped += files.length;
  }
} catch (e) {
  console.error(`npm test: ${e.message}`);
  failed += 1;
}
// The closing line has the form CI reads; what could not run is on the line before.
if (skipped) console.log(`# ${skipped} skipped`);
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
