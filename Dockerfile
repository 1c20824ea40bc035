# syntax=docker/dockerfile:1
# gavel as one compiled binary (bun build --compile) in a small, non-root runtime image.
#   docker build -t gavel .
#   docker run --rm -p 3000:3000 -e AUTH_JWT_SECRET="$(openssl rand -base64 48)" gavel
# All configuration comes from the environment at run time (README, "Configuration"); the image
# holds no secret. ROLES picks what a container runs; the same image serves every role.

# Build stage: Debian with glibc, like the runtime image, so the binary runs there unchanged.
ARG BUN_IMAGE=oven/bun:1
ARG RUNTIME_IMAGE=gcr.io/distroless/base-debian12:nonroot

FROM ${BUN_IMAGE} AS build
WORKDIR /src
# Dependencies first: a source change does not reinstall them. The build needs no dev dependency,
# and no install script of ours (the postinstall sets up pulumi/, which is not in this context).
# patches/: bun install applies them (package.json "patchedDependencies").
COPY package.json bun.lock bunfig.toml ./
COPY patches/ patches/
RUN --mount=type=cache,target=/root/.bun/install/cache \
	bun install --frozen-lockfile --production --ignore-scripts
# .dockerignore lets in only the build inputs (src/, workers/, scripts/, tsconfig.json).
COPY . .
RUN bun run build \
	&& ./dist/gavel version \
	&& mkdir -p /out/data

# Runtime: glibc, CA certificates and tzdata; no shell, no package manager. The binary needs
# nothing else (it links libc, libm, libdl and libpthread only).
FROM ${RUNTIME_IMAGE}
LABEL org.opencontainers.image.title="gavel" \
	org.opencontainers.image.description="Real-time auction bidding: HTTP bids, WebSocket watchers, archived events"
COPY --from=build /src/dist/gavel /app/gavel
# Amazon RDS's CA bundle, for DATABASE_CA_FILE with sslmode=verify-full (the AWS stack sets both):
# fetched at build time, where the build has the internet. Pin it with --checksum=sha256:… when you
# mirror it.
ADD --chmod=644 https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem /etc/ssl/certs/rds-global-bundle.pem
# DATA_DIR (development secret, embedded archive) must be writable by the non-root user.
COPY --from=build --chown=65532:65532 /out/data /data
ENV NODE_ENV=production \
	PORT=3000 \
	HOST=0.0.0.0 \
	DATA_DIR=/data
VOLUME ["/data"]
WORKDIR /app
# distroless's "nonroot" user, by number so that runtimes can check it is not root.
USER 65532:65532
EXPOSE 3000
# Liveness, not readiness: the binary asks its own /healthz (`gavel health --live`, exit 0 or 1),
# which never asks a dependency, so a Redis or NATS outage does not get healthy containers
# replaced (readiness, /readyz, only steers traffic). No curl here.
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 CMD ["/app/gavel", "health", "--live"]
ENTRYPOINT ["/app/gavel"]
CMD ["serve"]
