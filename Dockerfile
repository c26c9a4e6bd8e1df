# One image per function, from one Dockerfile:
#
#   docker build --build-arg FUNCTION=ingest -t eventfn/ingest .
#
# FUNCTION is a directory under functions/. faas-cli (lang: dockerfile,
# build_args.FUNCTION), docker compose (build.args.FUNCTION) and the Knative
# images all come from here. The binary is built by scripts/build-function,
# the same script `make build` runs, so the image and a local build cannot
# drift. Needs BuildKit (Docker 23+ uses it by default) for the cache mounts.
#
# The function binary is the HTTP server itself (no of-watchdog): it listens
# on $PORT (8080) and serves /_/health, /healthz, /readyz, /metrics.

ARG GO_IMAGE=golang:1.26-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM ${GO_IMAGE} AS build
WORKDIR /src
# Modules first, so that a code change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG FUNCTION
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    test -n "$FUNCTION" || { echo "build argument FUNCTION is required (a directory under functions/)" >&2; exit 2; }; \
    scripts/build-function "$FUNCTION" /out/function \
    && scripts/build-function deploy/launch /out/launch \
    && mkdir -p /out/data

# distroless/static: CA certificates (S3 over TLS) and tzdata (the stats tz
# parameter), no shell, no libc; user nonroot is 65532.
FROM ${RUNTIME_IMAGE}
ARG FUNCTION
LABEL org.opencontainers.image.title="eventfn-${FUNCTION}" \
      org.opencontainers.image.description="eventfn function ${FUNCTION}"
COPY --from=build /out/function /usr/local/bin/function
COPY --from=build /out/launch /usr/local/bin/launch
# /data is writable by the function user; a volume mounted there inherits
# that owner (for a file:// ARCHIVE_URL; the deployments archive to S3).
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/launch", "health"]
ENTRYPOINT ["/usr/local/bin/launch", "/usr/local/bin/function"]
