# The imgedge image. `podman run IMAGE edge --origin URL` starts an edge,
# `podman run IMAGE origin` an origin. BASE is a Node 24 image: the official
# one by default; any image with node and npm on PATH can stand in for it.
ARG BASE=node:24-slim

# Compiles the TypeScript; the compiler and type packages stay in this stage.
FROM ${BASE} AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.json ./
# Scripts wait for the sources: `prepare` would compile an empty tree here.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY src ./src
RUN npx tsc -p .

# Production dependencies only. sharp's native parts come as prebuilt
# packages, so no install script is needed.
FROM ${BASE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${BASE}
# The state of both roles lives in volumes, so the root filesystem can be
# read-only. The admin port listens on every address inside the container:
# health probes and Prometheus come from outside it, and it is published
# only where an operator asks.
ENV NODE_ENV=production \
    IMGEDGE_CACHE_DIR=/var/cache/imgedge \
    IMGEDGE_ROOT=/var/lib/imgedge \
    IMGEDGE_ADMIN_LISTEN=0.0.0.0:9090
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY package.json ./
COPY bin ./bin
COPY scripts/container-healthcheck.mjs ./scripts/
RUN ln -s /app/bin/imgedge.js /usr/local/bin/imgedge \
 && mkdir -p /var/cache/imgedge /var/lib/imgedge \
 && chown 10001:10001 /var/cache/imgedge /var/lib/imgedge
# A numeric user, so Kubernetes' runAsNonRoot can check it without a passwd entry.
USER 10001:10001
VOLUME ["/var/cache/imgedge", "/var/lib/imgedge"]
EXPOSE 8080 8081 9090
# The entrypoint runs node itself (through env -S), with no shell in between:
# SIGTERM reaches the process that drains.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "/app/scripts/container-healthcheck.mjs"]
ENTRYPOINT ["imgedge"]
CMD ["--help"]
