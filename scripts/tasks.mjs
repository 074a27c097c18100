// Build steps shared by the npm scripts (compile, prebuild:cuda, test). Each
// step is incremental: it does nothing when its output is up to date.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const jobs = String(Math.max(1, (await import('node:os')).availableParallelism()));

export function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...options });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}`);
  return r;
}

export function hasCommand(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

// node-gyp downloads Node's headers unless told where they are; npm passes
// npm_config_nodedir from its config, and a plain `node scripts/...` run uses the
// headers installed beside this Node when they exist (offline machines).
function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [];
  const prefix = dirname(dirname(process.execPath));
  return existsSync(join(prefix, 'include', 'node', 'common.gypi')) ? [`--nodedir=${prefix}`] : [];
}

/** The CPU addon in build/Release: configure when the source list changed, then make. */
export function compileCpu() {
  const sources = ['portable', 'avx2', 'avx512']
    .map((k) => spawnSync(process.execPath, ['scripts/native-sources.cjs', k], { cwd: root, encoding: 'utf8' }).stdout)
    .join('');
  const stamp = join(root, 'build', 'genrm-sources.txt');
  const fresh =
    existsSync(join(root, 'build', 'Makefile')) && existsSync(stamp) && readFileSync(stamp, 'utf8') === sources;
  run(bin('node-gyp'), [fresh ? 'build' : 'rebuild', '-j', jobs, ...nodedirArgs()]);
  writeFileSync(stamp, sources);
}

/** The CUDA addon in cuda-addon/build/Release (cmake-js; needs nvcc). */
export function compileCuda() {
  run(bin('cmake-js'), ['build', '--out', 'cuda-addon/build', '--parallel', jobs]);
}

export function compileTs() {
  run(bin('tsc'), ['-p', 'tsconfig.json']);
}

/** Copies and strips the CUDA addon into cuda-addon/prebuilds/<platform>-<arch>/. */
export function prebuildCuda() {
  compileCuda();
  const dir = join(root, 'cuda-addon', 'prebuilds', `${process.platform}-${process.arch}`);
  mkdirSync(dir, { recursive: true });
  const dest = join(dir, 'genrm.node');
  copyFileSync(join(root, 'cuda-addon', 'build', 'Release', 'genrm.node'), dest);
  run('strip', ['--strip-unneeded', dest]);
  console.log(`wrote ${dest}`);
}

/**
 * Builds the C++ tests (with python3, also the simulator's harness that
 * simTests() runs) and runs the engine's harness, then the CUDA model's host
 * code over a CPU stand-in for the device (native/tests/host_double/). Returns
 * {passed, failed, skipped} over both.
 */
export function nativeTests() {
  const dir = join(root, 'build-tests');
  const args = [
    '-S',
    '.',
    '-B',
    dir,
    '-DGENRM_CUDA=OFF',
    '-DGENRM_ADDON=OFF',
    '-DGENRM_NATIVE_TESTS=ON',
    '-DCMAKE_BUILD_TYPE=Release',
  ];
  // With python3 (it rewrites the .cu sources), also the CUDA parity cases on the CPU simulator (simTests).
  args.push(`-DGENRM_CUDA_SIM=${hasCommand('python3') ? 'ON' : 'OFF'}`);
  // With Node's N-API headers at hand, also the addon over the CPU stand-in for a device (hostDoubleAddon).
  const napiInclude = join(dirname(process.execPath), '..', 'include', 'node');
  if (existsSync(join(napiInclude, 'node_api.h')))
    args.push('-DGENRM_HOST_DOUBLE_ADDON=ON', `-DCMAKE_JS_INC=${napiInclude}`);
  run('cmake', args);
  run('cmake', ['--build', dir, '--parallel', jobs]);
  let passed = 0,
    failed = 0,
    skipped = 0;
  for (const exe of ['genrm_native_tests', 'genrm_cuda_host_tests']) {
    const r = spawnSync(join(dir, exe), [], { cwd: root, encoding: 'utf8' });
    process.stdout.write(r.stdout ?? '');
    process.stderr.write(r.stderr ?? '');
    const m = /^(\d+) passed, (\d+) failed$/m.exec(r.stdout ?? '');
    if (!m) {
      failed += 1;
      continue;
    }
    passed += Number(m[1]);
    failed += Number(m[2]) + (r.status === 0 ? 0 : Number(m[2]) === 0 ? 1 : 0);
    skipped += skippedIn(r.stdout);
  }
  return { passed, failed, skipped };
}

/** The harness's "N skipped" line (native/tests/main.cpp), 0 when absent. */
function skippedIn(out) {
  return Number(/^(\d+) skipped$/m.exec(out ?? '')?.[1] ?? 0);
}

/** The Node addon over the CPU stand-in for a CUDA device, when nativeTests() could build it. */
export function hostDoubleAddon() {
  const file = join(root, 'build-tests', 'genrm_host_double.node');
  return existsSync(file) ? file : undefined;
}

/**
 * The CUDA parity cases with the kernels on the CPU simulator (native/cuda/sim),
 * where there is no GPU: runs the genrm_cuda_sim_tests that nativeTests() built,
 * one process per case, as many at once as there are cores. Returns {passed,
 * failed, skipped}; every case counts as skipped when it was not built (no python3).
 */
export async function simTests() {
  const exe = join(root, 'build-tests', 'genrm_cuda_sim_tests');
  if (!existsSync(exe)) {
    console.log('# python3 not found: the CUDA simulator cases are skipped');
    return { passed: 0, failed: 0, skipped: 1 };
  }
  const listed = spawnSync(exe, ['--list'], { cwd: root, encoding: 'utf8' })
    .stdout.split('\n')
    .filter((n) => n.startsWith('cuda_'));
  // The attention cases take most of the time: started first, they do not leave
  // one core running the last of them alone.
  const heavy = (n) => /attention_head_dim|logprob_(matches|grouped|forward)|draws_on_the_device/.test(n);
  const cases = [...listed.filter(heavy), ...listed.filter((n) => !heavy(n))];
  // One process per case, as many at once as there are cores: the cases' costs
  // differ by 1000x (the attention ones take most of the time), so a queue
  // balances where fixed shares would not.
  const results = new Array(cases.length);
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const i = next++;
      const t0 = Date.now();
      results[i] = await new Promise((resolve) => {
        const child = spawn(exe, [`=${cases[i]}`], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '',
          err = '';
        child.stdout.on('data', (d) => {
          out += d;
        });
        child.stderr.on('data', (d) => {
          err += d;
        });
        child.on('close', (code) => resolve({ out, err, code }));
      });
      results[i].seconds = (Date.now() - t0) / 1000;
    }
  };
  await Promise.all(Array.from({ length: Math.min(Number(jobs), cases.length) }, worker));
  let passed = 0,
    failed = 0,
    skipped = 0;
  for (const { out, err, code } of results) {
    process.stdout.write(out.replace(/^\d+ passed, \d+ failed\n/m, '').replace(/^\d+ skipped\n/m, ''));
    const m = /^(\d+) passed, (\d+) failed$/m.exec(out);
    const bad = !m || Number(m[2]) > 0 || code !== 0;
    // The simulator's diagnostics (stderr) matter when a case failed; the
    // cuda_sim_ cases provoke them on purpose.
    if (bad) process.stdout.write(err);
    passed += m ? Number(m[1]) : 0;
    failed += bad ? Math.max(1, m ? Number(m[2]) : 1) : 0;
    skipped += skippedIn(out);
  }
  const slowest = cases.map((name, i) => ({ name, seconds: results[i].seconds })).sort((a, b) => b.seconds - a.seconds);
  console.log(
    `# slowest: ${slowest
      .slice(0, 5)
      .map((c) => `${c.name} ${c.seconds.toFixed(1)} s`)
      .join(', ')}`,
  );
  return { passed, failed, skipped };
}
