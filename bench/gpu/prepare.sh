#!/usr/bin/env bash
# Run HERE (a machine with Node and the npm packages), before bench/gpu/run.sh
# on the GPU machine, which has no Node and no network. Packs what run.sh needs
# into .device/ (ignored by git); pass `.device` in the device call's `carry`.
#   bash bench/gpu/prepare.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
out=.device
rm -rf "$out"
mkdir -p "$out/node-include"

echo "== TypeScript (dist/) and the CPU addon"
npm run --silent compile:ts
npm run --silent compile:cpu >/dev/null

echo "== packing into $out/"
xz -T2 -c "$(command -v node)" >"$out/node.xz"
# Only what the tests and the CLI load: the compilers and build tools stay behind.
tar -cf - --exclude=node_modules/typescript --exclude=node_modules/node-gyp --exclude=node_modules/@types \
  --exclude=node_modules/cmake-js --exclude=node_modules/prebuildify node_modules | xz -T2 -6 -c >"$out/node_modules.tar.xz"
tar -cf - dist | xz -T2 -c >"$out/dist.tar.xz"
cp build/Release/genrm.node "$out/cpu-genrm.node"
# The N-API headers, so the CUDA addon can be built there with plain cmake (the
# addon uses N-API only, so these four files are all of Node it needs).
node_include=$(dirname "$(command -v node)")/../include/node
for h in node_api.h node_api_types.h js_native_api.h js_native_api_types.h; do cp "$node_include/$h" "$out/node-include/"; done
du -sh "$out"
echo "== ready: run bash bench/gpu/run.sh on the GPU machine with carry [\".device\"]"
