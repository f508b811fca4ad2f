# One image for the API, the worker and the migration step; the compose file picks the command.
# Build arg TFJS_NODE=cpu installs @tensorflow/tfjs-node so the worker runs on libtensorflow (all
# cores) instead of WebAssembly. The GPU worker is its own target, `gpu`, on an NVIDIA CUDA base.
# Both download libtensorflow at build time (network access needed).
ARG NODE_IMAGE=node:24-bookworm-slim
# The GPU worker's base: ONNX Runtime 1.30's CUDA and TensorRT providers need CUDA 12 and
# cuDNN 9; @tensorflow/tfjs-node-gpu 4.22 links libtensorflow 2.9.1, built for CUDA 11.2 and
# cuDNN 8.1, whose runtime libraries are added from the same NVIDIA apt repository (Ubuntu 20.04
# carries both lines).
ARG CUDA_IMAGE=nvidia/cuda:12.4.1-cudnn-runtime-ubuntu20.04
FROM ${NODE_IMAGE} AS base
ENV PNPM_HOME=/pnpm PATH=/pnpm:$PATH CI=true
# libjpeg-turbo's TurboJPEG library: the API's check and the worker's decode of plain JPEGs run on
# it at less than half of sharp's CPU, with the same pixels (packages/images/src/turboJpeg.ts).
RUN apt-get update && apt-get install -y --no-install-recommends libturbojpeg0 && rm -rf /var/lib/apt/lists/*
RUN npm install -g pnpm@10.34.9
WORKDIR /app

FROM base AS build
ARG TFJS_NODE=none
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml tsconfig.base.json prisma.config.ts ./
COPY scripts ./scripts
COPY prisma ./prisma
COPY apps ./apps
COPY packages ./packages
RUN pnpm install --frozen-lockfile \
 && node packages/inference/scripts/importNsfwModel.ts --out /app/models \
 && node packages/training/scripts/importMnistModel.ts --out /app/models \
 && pnpm --filter @inferq/dashboard build
# pnpm-workspace.yaml lists both tfjs-node packages under onlyBuiltDependencies, so their install
# script (the libtensorflow download) runs.
RUN if [ "$TFJS_NODE" = "cpu" ]; then pnpm --filter @inferq/inference add @tensorflow/tfjs-node@4.22.0; fi

FROM build AS runtime
ENV NODE_ENV=production MODELS_DIR=/app/models
# Containers share no folder by default: job inputs stay in Postgres unless BLOB_STORE_URL names a
# shared volume (docker-compose.yml) or a bucket (the Kubernetes overlays).
ENV BLOB_STORE_URL=postgres
# The mount point of docker-compose's shared blobs volume, owned by the user the processes run as.
RUN mkdir -p /data/blobs && chown node:node /data/blobs
# The runtime settings `pnpm start` gives its processes too (processRuntimeEnv in
# packages/core/src/garbageCollection.ts, which says why; a test keeps the two equal): 16 MB
# semi-spaces, not Node's 32, and two malloc arenas.
ENV NODE_OPTIONS=--max-semi-space-size=16 MALLOC_ARENA_MAX=2
USER node
EXPOSE 3000 3001
CMD ["node", "apps/api/src/index.ts"]

# GPU worker: `docker build --target gpu -t inferq-gpu .` (or the compose `gpu` profile). The
# CUDA image has no Node, so Node 24 is copied from the base stage (its binaries need glibc 2.28;
# Ubuntu 20.04 has 2.31). Runs on a host with an NVIDIA driver >= 525 (CUDA 12) and the NVIDIA
# Container Toolkit. ONNX Runtime serves the shipped models there on TensorRT or CUDA (the worker
# picks the best that starts, ORT_PROVIDER=auto; TensorRT also needs libnvinfer, which this
# image leaves out, so auto takes CUDA); libvulkan1 lets its WebGPU provider run too
# where the driver's Vulkan ICD is mounted. libtensorflow (TF.js versions without model.onnx)
# falls back to the CPU quietly without a GPU (the worker logs a warning).
FROM ${CUDA_IMAGE} AS gpu
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libvulkan1 libturbojpeg \
      cuda-cudart-11-2 libcublas-11-2 libcufft-11-2 libcurand-11-2 libcusolver-11-2 libcusparse-11-2 'libcudnn8=8.1.*+cuda11.2' \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 1000 node
COPY --from=base /usr/local/bin/node /usr/local/bin/node
COPY --from=base /usr/local/lib/node_modules /usr/local/lib/node_modules
ENV PNPM_HOME=/pnpm PATH=/pnpm:$PATH CI=true
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && npm install -g pnpm@10.34.9
WORKDIR /app
COPY --from=build /app /app
# onnxruntime-node's CUDA/TensorRT provider libraries (NuGet), which the workspace's own install
# never downloads (pnpm-workspace.yaml ignores its install script).
RUN cd packages/inference && node node_modules/onnxruntime-node/script/install.js --onnxruntime-node-install=cuda12 \
 && ls node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so
RUN pnpm --filter @inferq/inference add @tensorflow/tfjs-node-gpu@4.22.0 \
 && node -e "require('/app/packages/inference/node_modules/@tensorflow/tfjs-node-gpu')"
ENV NODE_ENV=production MODELS_DIR=/app/models TF_BACKEND=tensorflow-gpu
ENV BLOB_STORE_URL=postgres
# The mount point of docker-compose's shared blobs volume, owned by the user the processes run as.
RUN mkdir -p /data/blobs && chown node:node /data/blobs
ENV NODE_OPTIONS=--max-semi-space-size=16 MALLOC_ARENA_MAX=2
USER node
EXPOSE 3001
CMD ["node", "apps/worker/src/index.ts"]
