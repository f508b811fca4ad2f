#!/usr/bin/env bash
# What a GPU machine has, and how fast the nsfw model runs there on every ONNX Runtime execution
# provider that starts (TensorRT, CUDA, WebGPU) beside the CPU, at batch 1 to 256.
#
#   bash scripts/gpu-check.sh pack     here: packs Node (xz), onnxruntime-node (its JS, the
#                                      binding, libonnxruntime and any provider libraries
#                                      installed beside it), the nsfw model.onnx and the
#                                      benchmark into gpu-check/ (gitignored, < 64 MiB)
#   bash scripts/gpu-check.sh run      there: unpacks gpu-check/ to a temp folder, reports the
#                                      driver, Vulkan and CUDA libraries, and runs the benchmark
#
# The device copy of the working tree carries gpu-check/ (the `carry` of the device tool); it
# needs nothing installed but xz and tar. CUDA and TensorRT need libonnxruntime_providers_*.so,
# which onnxruntime-node's install script downloads (NuGet) and this workspace does not run: they
# are packed only where they are installed (README, "GPU"); WebGPU is inside the npm package.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bundle=gpu-check
mode="${1:-run}"

pack() {
  source scripts/env.sh
  local ort_dir
  ort_dir="$(cd packages/inference && node -e "console.log(require('node:path').dirname(require.resolve('onnxruntime-node/package.json')))")"
  local common_dir
  common_dir="$(readlink -f "$ort_dir/../onnxruntime-common")"
  [ -f models/nsfw/4.4.0/model.onnx ] || pnpm models:import >/dev/null
  rm -rf "$bundle" && mkdir -p "$bundle/stage/ort/node_modules"
  # onnxruntime-node without the other platforms' binaries, onnxruntime-common beside it.
  cp -r "$ort_dir" "$bundle/stage/ort/node_modules/onnxruntime-node"
  cp -r "$common_dir" "$bundle/stage/ort/node_modules/onnxruntime-common"
  find "$bundle/stage/ort/node_modules/onnxruntime-node/bin/napi-v6" -mindepth 1 -maxdepth 1 ! -name linux -exec rm -rf {} +
  rm -rf "$bundle/stage/ort/node_modules/onnxruntime-node/bin/napi-v6/linux/arm64"
  echo '{"name":"gpu-check-ort","private":true}' > "$bundle/stage/ort/package.json"
  cp models/nsfw/4.4.0/model.onnx "$bundle/stage/model.onnx"
  cp scripts/gpuBench.mjs "$bundle/stage/gpuBench.mjs"
  xz -T0 -3 -c "$(readlink -f "$(command -v node)")" > "$bundle/node.xz"
  tar -C "$bundle/stage" -cf - . | xz -T0 -3 > "$bundle/payload.tar.xz"
  rm -rf "$bundle/stage"
  local bytes
  bytes=$(du -cb "$bundle"/* | tail -1 | cut -f1)
  echo "packed $bundle/: $((bytes / 1024 / 1024)) MiB (node $(du -h "$bundle/node.xz" | cut -f1), payload $(du -h "$bundle/payload.tar.xz" | cut -f1))"
  if [ "$bytes" -gt $((60 * 1024 * 1024)) ]; then echo "too large for the device tool's 64 MiB working tree" >&2; exit 1; fi
  ls "$ort_dir/bin/napi-v6/linux/x64" | sed 's/^/  ort library: /'
}

report() {
  echo "== machine"; uname -a; nproc; (free -g 2>/dev/null | head -2) || true
  echo "== NVIDIA driver"; (command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv 2>&1 || echo "nvidia-smi: not available") | head -5
  echo "== device nodes"; ls /dev/nvidia* /dev/dri 2>&1 | head -10 || true
  echo "== Vulkan"; (command -v vulkaninfo >/dev/null && vulkaninfo --summary 2>&1 | grep -E "deviceName|driverName|apiVersion" | head -6) || echo "vulkaninfo: not installed"
  ldconfig -p 2>/dev/null | grep -E "libvulkan|libnvidia-vulkan|libGLX_nvidia" | head -5 || true
  ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>/dev/null || true
  echo "== CUDA libraries"; ldconfig -p 2>/dev/null | grep -E "libcuda\.so|libcudart|libcublas\.so|libcudnn\.so|libnvinfer\.so" | head -10 || true
}

run() {
  [ -f "$bundle/node.xz" ] || { echo "no $bundle/ here: run 'bash scripts/gpu-check.sh pack' first and carry $bundle" >&2; exit 1; }
  work="$(mktemp -d)"
  trap 'rm -rf "${work:-}"' EXIT
  xz -dc "$bundle/node.xz" > "$work/node" && chmod +x "$work/node"
  xz -dc "$bundle/payload.tar.xz" | tar -C "$work" -xf -
  report
  echo "== onnxruntime-node $("$work/node" -e "console.log(require('$work/ort/node_modules/onnxruntime-node/package.json').version)"), Node $("$work/node" --version)"
  "$work/node" "$work/gpuBench.mjs" --ort "$work/ort" --model "$work/model.onnx" "${@:2}"
}

case "$mode" in
  pack) pack ;;
  run) run "$@" ;;
  *) echo "usage: bash scripts/gpu-check.sh pack|run [benchmark options]" >&2; exit 2 ;;
esac
