# gatehouse: one image, both roles. The command picks the role:
#   docker run gatehouse                 a worker (the default command), on port 3000
#   docker run gatehouse proxy --config /app/config/compose.yaml
# Build:   docker build -t gatehouse .                                  (Node 24, the current LTS)
#          docker build --build-arg NODE_VERSION=20 -t gatehouse:node20 .
# Signals: run it with an init (compose `init: true`, `docker run --init`, the deployer sets
# HostConfig.Init): tini is PID 1, forwards SIGTERM to Node (which drains and exits 0) and reaps
# zombies. Node as PID 1 would still drain, as gatehouse installs its own SIGTERM handler, but
# nothing would reap orphaned children.
# Works with the classic builder and BuildKit; the image installs no system packages.
ARG NODE_VERSION=24

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
# Dependencies first, so this layer is reused until the lockfile changes. Lifecycle scripts are
# skipped: a `prepare` script would build before the sources are here, and the optional native
# add-ons of ssh2 (dockerode's transport) fall back to JavaScript without them.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build \
  && npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
  && rm -rf Dockerfile tsconfig.json dist/test dist/bench

FROM node:${NODE_VERSION}-bookworm-slim
# The config every role reads unless --config says otherwise: all listeners on the container's
# interfaces (proxy 8080, status 8081, worker 3000); the published ports decide who reaches them.
ENV NODE_ENV=production \
    GATEHOUSE_CONFIG=/app/config/container.yaml
RUN groupadd --system --gid 10001 gatehouse \
  && useradd --system --uid 10001 --gid gatehouse --home-dir /app --no-create-home --shell /usr/sbin/nologin gatehouse
WORKDIR /app
# Owned by root and read-only to the process: the app cannot rewrite its own code.
COPY --from=build /app /app
USER 10001:10001
EXPOSE 3000 8080 8081
# The worker's /healthz by default. A proxy container sets GATEHOUSE_HEALTH_URL to its status
# listener (http://127.0.0.1:8081/healthz: no token needed), as docker-compose.yml and the deployer do. The timeout
# is generous: starting node for the probe can take seconds on a busy host, and a false
# "unhealthy" blocks `depends_on: service_healthy`.
HEALTHCHECK --interval=5s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.GATEHOUSE_HEALTH_URL||'http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "bin/gatehouse.js"]
CMD ["worker"]
