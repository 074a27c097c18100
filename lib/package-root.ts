// The folder holding genrm's package.json, found from this file's location so it
// works from the sources (lib/) and from the compiled package (dist/lib/).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: { root: string; version: string } | undefined;

function find(): { root: string; version: string } {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'genrm') return { root: dir, version: pkg.version ?? '0.0.0' };
    }
    const parent = dirname(dir);
    if (parent === dir)
      throw new Error('genrm: cannot find the package.json of genrm above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

export function packageRoot(): string {
  cached ??= find();
  return cached.root;
}

export function packageVersion(): string {
  cached ??= find();
  return cached.version;
}
