// npm run format / format:check: the one code style, applied or checked.
// TypeScript and JavaScript by Prettier (.prettierrc.json), C++ and CUDA by
// clang-format (.clang-format; the WebAssembly build in node_modules, so every
// machine formats with the same version). Exits 1 when a file is not formatted.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv[2] === '--check';
const bin = (name) => join(root, 'node_modules', '.bin', name);

/** Files under `dir` whose names end with one of `exts`, relative to the root, sorted. */
function files(dir, exts) {
  const out = [];
  const walk = (d) => {
    for (const entry of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (exts.some((e) => entry.name.endsWith(e))) out.push(relative(root, p));
    }
  };
  walk(join(root, dir));
  return out;
}

const run = (cmd, args) => spawnSync(cmd, args, { cwd: root, stdio: 'inherit' }).status;

const scripts = ['lib', 'bench', 'test', 'scripts'].flatMap((d) => files(d, ['.ts', '.mjs', '.cjs', '.js']));
const cxx = [...files('native', ['.cpp', '.h', '.cu', '.cuh', '.inc']), ...files('bench/gpu', ['.cpp', '.h'])];
const prettier = run(bin('prettier'), [
  check ? '--check' : '--write',
  '--log-level',
  'warn',
  ...scripts,
  'eslint.config.mjs',
]);
const clang = run(bin('clang-format'), check ? ['--dry-run', '-Werror', ...cxx] : ['-i', ...cxx]);
if (prettier !== 0 || clang !== 0) {
  if (check) console.error('format: files above are not formatted; `npm run format` formats them');
  process.exit(1);
}
