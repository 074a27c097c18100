// One binary must run on any x86-64: only code from the *_avx2.cpp and
// *_avx512.cpp units may use AVX (VEX/EVEX-encoded) instructions, and only the
// AVX-512 units may touch zmm registers. Catches the classic failure where an
// inline or template function instantiated in such a unit is kept by the linker
// and then runs on a CPU without those instructions.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../lib/index.js';

const release = join(packageRoot(), 'build', 'Release');
const addon = join(release, 'genrm.node');
const avx2Lib = join(release, 'genrm_avx2.a');
const avx512Lib = join(release, 'genrm_avx512.a');
const haveTools = spawnSync('sh', ['-c', 'command -v objdump && command -v nm'], { stdio: 'ignore' }).status === 0;
const run = existsSync(addon) && existsSync(avx2Lib) && existsSync(avx512Lib) && haveTools ? test : test.skip;

function definedSymbols(t: { is(a: unknown, b: unknown, m?: string): void }, lib: string): Set<string> {
  const nm = spawnSync('nm', ['--defined-only', lib], { encoding: 'utf8', maxBuffer: 1 << 26 });
  t.is(nm.status, 0, nm.stderr);
  return new Set(
    nm.stdout
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[2])
      .filter((s): s is string => !!s),
  );
}

run('AVX instructions appear only in functions from the AVX2 and AVX-512 units', (t) => {
  const avx512 = definedSymbols(t, avx512Lib);
  const allowed = new Set([...definedSymbols(t, avx2Lib), ...avx512]);
  t.true(avx512.size > 0);
  const dis = spawnSync('objdump', ['-d', '--no-show-raw-insn', addon], { encoding: 'utf8', maxBuffer: 1 << 28 });
  t.is(dis.status, 0, dis.stderr);
  const offenders = new Map<string, string>();
  const zmmOutside = new Set<string>();
  let fn = '';
  let avxFunctions = 0;
  for (const line of dis.stdout.split('\n')) {
    const head = /^[0-9a-f]+ <(.+)>:$/.exec(line);
    if (head) {
      fn = head[1]!;
      continue;
    }
    const insn = /^\s+[0-9a-f]+:\s+(v[a-z0-9]+)\s/.exec(line);
    if (!insn) continue;
    if (line.includes('%zmm') && !avx512.has(fn)) zmmOutside.add(fn);
    if (allowed.has(fn)) {
      avxFunctions++;
      continue;
    }
    if (!offenders.has(fn)) offenders.set(fn, insn[1]!);
  }
  t.deepEqual([...offenders.entries()], [], 'functions outside the AVX units that use AVX instructions');
  t.deepEqual([...zmmOutside], [], 'functions outside the AVX-512 units that use zmm registers');
  t.true(avxFunctions > 0, 'the AVX2 kernels were found in the binary');
});
