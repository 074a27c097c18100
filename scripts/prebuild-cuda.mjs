// npm run prebuild:cuda: the CUDA addon, stripped, in cuda-addon/prebuilds/.
import { prebuildCuda } from './tasks.mjs';

try {
  prebuildCuda();
} catch (e) {
  console.error(`prebuild:cuda: ${e.message}`);
  process.exit(1);
}
