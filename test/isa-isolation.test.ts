// One binary must run on any x86-64: only code from the *_avx2.cpp units may use
// AVX (VEX-encoded) instructions. Catches the classic failure where an inline or
// template function instantiated in an AVX2 unit is kept by the linker and then
// runs on a CPU without AVX2.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../lib/index.js';

const release = join(packageRoot(), 'build', 'Release');
const addon = join(release, 'genrm.node');
const avx2Lib = join(release, 'genrm_avx2.a');
const haveTools = spawnSync('sh', ['-c', 'command -v objdump && command -v nm'], { stdio: 'ignore' }).status === 0;
const run = existsSync(addon) && existsSync(avx2Lib) && haveTools ? test : test.skip;

run('AVX instructions appear only in functions from the AVX2 units', (t) => {
  const nm = spawnSync('nm', ['--defined-only', avx2Lib], { encoding: 'utf8', maxBuffer: 1 << 26 });
  t.is(nm.status, 0, nm.stderr);
  const allowed = new Set(nm.stdout.split('\n').map((l) => l.trim().split(/\s+/)[2]).filter((s): s is string => !!s));
  t.true(allowed.size > 0);
  const dis = spawnSync('objdump', ['-d', '--no-show-raw-insn', addon], { encoding: 'utf8', maxBuffer: 1 << 28 });
  t.is(dis.status, 0, dis.stderr);
  const offenders = new Map<string, string>();
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
    if (allowed.has(fn)) {
      avxFunctions++;
      continue;
    }
    if (!offenders.has(fn)) offenders.set(fn, insn[1]!);
  }
  t.deepEqual([...offenders.entries()], [], 'functions outside the AVX2 units that use AVX instructions');
  t.true(avxFunctions > 0, 'the AVX2 kernels were found in the binary');
});
