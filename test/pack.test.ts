// The published package: `npm pack`, install the tarball into a fresh project
// offline with install scripts disabled (npm 11's default for dependencies), and
// run the CLI and a native call from there, using only the shipped prebuilds.
//
// Offline, npm cannot resolve version ranges: that needs the registry's package
// documents, which `npm ci` does not cache (it installs from the lockfile and
// caches only tarballs). So the fresh project gets a lockfile too: genrm's own
// production entries from package-lock.json plus the tarball, and installs with
// `npm ci --offline`, which needs nothing but the tarballs `npm ci` cached here.
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../lib/index.js';

const root = packageRoot();
const platformDir = `${process.platform}-${process.arch}`;
const cudaPrebuilt = existsSync(join(root, 'cuda-addon', 'prebuilds', platformDir, 'genrm.node'));

interface LockEntry {
  dev?: boolean;
  devOptional?: boolean;
  [field: string]: unknown;
}
interface Lockfile {
  lockfileVersion: number;
  packages: Record<string, LockEntry>;
}

/**
 * package.json and package-lock.json of a project that depends on the packed
 * tarball `tarball` (a path relative to the project) alone. Every entry of our
 * lockfile that a production install needs keeps its path: genrm's dependencies
 * sit hoisted at the top of node_modules there as here.
 */
function consumerProject(tarball: string, integrity: string) {
  const ours = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as Lockfile;
  const self = ours.packages['']!;
  const spec = `file:${tarball}`;
  const manifest = {
    name: 'uses-genrm',
    version: '1.0.0',
    type: 'module',
    private: true,
    dependencies: { genrm: spec },
  };
  const packages: Record<string, LockEntry> = {
    '': { name: manifest.name, version: manifest.version, dependencies: manifest.dependencies },
    'node_modules/genrm': {
      version: self.version,
      resolved: spec,
      integrity,
      license: self.license,
      dependencies: self.dependencies,
      bin: self.bin,
      engines: self.engines,
      os: self.os,
      cpu: self.cpu,
      hasInstallScript: self.hasInstallScript,
    },
  };
  for (const [path, entry] of Object.entries(ours.packages)) {
    if (path !== '' && !entry.dev && !entry.devOptional) packages[path] = entry;
  }
  const lock = {
    name: manifest.name,
    version: manifest.version,
    lockfileVersion: ours.lockfileVersion,
    requires: true,
    packages,
  };
  return { manifest, lock };
}

test('the packed tarball installs with scripts disabled and works from its prebuilds', (t) => {
  t.true(
    existsSync(join(root, 'prebuilds', platformDir, 'genrm.node')),
    'run `npm run prebuild` first (npm test does)',
  );
  const work = mkdtempSync(join(tmpdir(), 'genrm-pack-'));
  try {
    const packed = JSON.parse(
      execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], {
        cwd: root,
        encoding: 'utf8',
      }),
    );
    const files: string[] = packed[0].files.map((f: { path: string }) => f.path);
    t.true(files.includes(`prebuilds/${platformDir}/genrm.node`));
    t.true(
      files.includes('dist/lib/index.js') &&
        files.includes('dist/lib/index.d.ts') &&
        files.includes('dist/lib/cli/main.js'),
    );
    t.is(files.includes(`cuda-addon/prebuilds/${platformDir}/genrm.node`), cudaPrebuilt);
    t.true(files.includes('bench/torch/reference.py'));
    t.false(files.some((f) => f.startsWith('build/') || f.startsWith('test/') || f.startsWith('node_modules/')));

    const project = join(work, 'project');
    execFileSync('mkdir', ['-p', project]);
    const { manifest, lock } = consumerProject(`../${packed[0].filename}`, packed[0].integrity);
    writeFileSync(join(project, 'package.json'), JSON.stringify(manifest));
    writeFileSync(join(project, 'package-lock.json'), JSON.stringify(lock));
    execFileSync('npm', ['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], {
      cwd: project,
      encoding: 'utf8',
    });
    // What a production install of genrm needs, and nothing it would not get.
    const installed = (
      JSON.parse(readFileSync(join(project, 'node_modules', '.package-lock.json'), 'utf8')) as Lockfile
    ).packages;
    t.deepEqual(
      Object.keys(installed).sort(),
      Object.keys(lock.packages)
        .filter((p) => p !== '')
        .sort(),
    );

    const env = { ...process.env, PREBUILDS_ONLY: '1' };
    const infoRun = spawnSync(join(project, 'node_modules', '.bin', 'genrm'), ['info', '--json'], {
      cwd: project,
      encoding: 'utf8',
      env,
    });
    t.is(infoRun.status, 0, infoRun.stderr);
    const info = JSON.parse(infoRun.stdout);
    t.is(info.binary.path, join(project, 'node_modules', 'genrm', 'prebuilds', platformDir, 'genrm.node'));
    t.is(info.backend, 'cpu');
    if (cudaPrebuilt)
      t.is(
        info.loader[0].path,
        join(project, 'node_modules', 'genrm', 'cuda-addon', 'prebuilds', platformDir, 'genrm.node'),
      );

    const script =
      "import { kernels } from 'genrm'; const c = kernels.gemm({ m: 2, n: 2, k: 3, a: Float32Array.of(1,2,3,4,5,6), b: Float32Array.of(1,0,0,1,1,1) }); console.log(JSON.stringify(Array.from(c)));";
    const call = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: project,
      encoding: 'utf8',
      env,
    });
    t.is(call.status, 0, call.stderr);
    t.deepEqual(JSON.parse(call.stdout), [4, 5, 10, 11]);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
