# ovim-operator's image: the build output (`make build`) and the production dependencies on
# Node.js 22 LTS, run as a non-root user with nothing else needed at run time (no shell: the
# entrypoint is exec form, the probes are HTTP). test/integration/image-layout.test.ts assembles
# what the last stage copies and runs it from a read-only directory.
#
#   docker build -t ovim-operator:dev .
#
# RUNTIME_IMAGE may be any Node.js 22 image without a shell, a distroless one for instance.
ARG NODE_IMAGE=node:22-bookworm
ARG RUNTIME_IMAGE=node:22-bookworm-slim

# 1. Compile: every dependency (TypeScript), then make build's steps.
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY hack/build.sh hack/build.sh
COPY src src
COPY crds crds
COPY config config
# tsconfig also names test/, bench/ and hack/: only src/ is compiled here.
RUN mkdir -p test bench && bash hack/build.sh

# 2. Production dependencies only, better-sqlite3 built for this Node.js (python3, make and
#    g++ are in the full node image).
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# 3. Run: what the two stages produced, nothing else.
FROM ${RUNTIME_IMAGE}
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /app/package.json package.json
COPY --from=deps /app/node_modules node_modules
COPY --from=build /src/dist/src dist/src
COPY --from=build /src/dist/crds dist/crds
COPY --from=build /src/dist/config dist/config
USER 65532:65532
EXPOSE 8080 8081 8082 9443
ENTRYPOINT ["node", "/app/dist/src/main.js"]
