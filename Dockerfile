# One image for the API, the worker and the migration step; the compose file picks the command.
# Build args: TFJS_NODE=cpu|gpu installs @tensorflow/tfjs-node(-gpu) so the worker runs on
# libtensorflow instead of WebAssembly (needs network access to download libtensorflow at build).
ARG NODE_IMAGE=node:24-bookworm-slim
FROM ${NODE_IMAGE} AS base
ENV PNPM_HOME=/pnpm PATH=/pnpm:$PATH CI=true
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
 && pnpm --filter @inferq/dashboard build
RUN if [ "$TFJS_NODE" = "cpu" ]; then pnpm --filter @inferq/inference add @tensorflow/tfjs-node@4.22.0 && pnpm rebuild @tensorflow/tfjs-node; \
    elif [ "$TFJS_NODE" = "gpu" ]; then pnpm --filter @inferq/inference add @tensorflow/tfjs-node-gpu@4.22.0 && pnpm rebuild @tensorflow/tfjs-node-gpu; fi

FROM build AS runtime
ENV NODE_ENV=production MODELS_DIR=/app/models
USER node
EXPOSE 3000 3001
CMD ["node", "apps/api/src/index.ts"]
