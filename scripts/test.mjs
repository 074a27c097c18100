// npm test: builds what is missing or stale (CPU addon, TypeScript, prebuilds
// for the packaging test, the CUDA prebuild when nvcc exists), runs the C++
// harness and the ava suite, and ends with one line "N passed, N failed".
// PREBUILDS_ONLY=1 tests the shipped prebuilds instead of building the addon.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { compileCpu, compileTs, hasCommand, nativeTests, prebuildCuda, root, run } from './tasks.mjs';

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

function ava() {
  return new Promise((resolve) => {
    const child = spawn(join(root, 'node_modules', '.bin', 'ava'), ['--tap', ...process.argv.slice(2)], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      process.stdout.write(d);
    });
    child.on('close', (code) => {
      const count = (name) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(out)?.[1] ?? 0);
      const passed = count('pass'), failed = count('fail'), skipped = count('skip') + count('todo');
      // A crash before the summary is a failure even if no test was counted as failed.
      resolve({ passed, failed: failed + (code !== 0 && failed === 0 ? 1 : 0), skipped });
    });
  });
}

let passed = 0, failed = 0, skipped = 0;
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

  console.log('# C++ engine tests');
  const n = nativeTests();
  passed += n.passed;
  failed += n.failed;

  console.log('# ava');
  const a = await ava();
  passed += a.passed;
  failed += a.failed;
  skipped += a.skipped;
} catch (e) {
  console.error(`npm test: ${e.message}`);
  failed += 1;
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exitCode = failed === 0 ? 0 : 1;
