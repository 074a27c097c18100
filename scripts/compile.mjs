// npm run compile[:cpu|:cuda|:ts]: build genrm from source.
//   compile       CPU addon + TypeScript (what a developer needs)
//   compile:cpu   CPU addon only (node-gyp, build/Release/genrm.node)
//   compile:cuda  CUDA addon (cmake-js + nvcc, cuda-addon/build/Release/genrm.node)
//   compile:ts    TypeScript to dist/
import { compileCpu, compileCuda, compileTs } from './tasks.mjs';

const what = process.argv[2] ?? 'default';
const steps = { default: [compileCpu, compileTs], cpu: [compileCpu], cuda: [compileCuda], ts: [compileTs] }[what];
if (!steps) {
  console.error(`compile: unknown target "${what}"; expected cpu, cuda or ts`);
  process.exit(2);
}
try {
  for (const step of steps) step();
} catch (e) {
  console.error(`compile: ${e.message}`);
  process.exit(1);
}
