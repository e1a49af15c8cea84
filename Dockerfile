# syntax=docker/dockerfile:1
# One image for every SmartLine service; the argument chooses which one runs:
#   docker build -t smartline .
#   docker run --rm -p 4000:4000 smartline router      (or accounts | drivers | trips | pricing | wallet)
# Configured only by the environment: see .env.example.

# --- dependencies -------------------------------------------------------------------------------
# `npm ci --omit=dev` alone is not enough: the root postinstall runs patch-package (a devDependency)
# to patch graphql-shield, which the services need at run time. So: install everything without
# running any install script (that also skips the `node` devDependency's download of a second
# Node binary: the base image already is Node 24), apply the patches with the base image's node,
# then prune the devDependencies. The patched files stay in place.
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && node node_modules/patch-package/index.js --error-on-fail \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

# --- runtime ------------------------------------------------------------------------------------
FROM node:24-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    DATA_DIR=/data
WORKDIR /app
# DATA_DIR holds development keys (compose mounts a volume there); production takes keys from the environment.
RUN mkdir -p /data/keys && chown -R node:node /data
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY platform ./platform
COPY router ./router
COPY schema ./schema
COPY subgraphs ./subgraphs
USER node
# Router 4000, subgraphs 4001-4005 (PORT overrides).
EXPOSE 4000 4001 4002 4003 4004 4005
# Health: GET /health/live and /health/ready on the service's port (docker-compose.yml and k8s/ probe them).
# V8 flags: platform/node-flags.ts says why.
ENTRYPOINT ["node", "--min-semi-space-size=16", "--max-semi-space-size=16", "bin/service.ts"]
CMD ["router"]
