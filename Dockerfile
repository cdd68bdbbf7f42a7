# syntax=docker/dockerfile:1
# auditship: a static binary, CA certificates, and nothing else.
#
#   docker buildx build --platform linux/arm64,linux/amd64 \
#     --build-arg AUDITSHIP_COMMIT="$(git rev-parse HEAD)" -t auditship .
#
# The build stage runs on the build machine's own platform and
# cross-compiles for the target's (deploy/build-static.sh: Rust's musl
# target, zig as the C cross compiler for aws-lc), so an arm64 image
# builds at native speed on amd64, with no emulation. CI, where no Docker
# engine runs, runs the same script for both architectures and starts
# each binary (tests/deploy-checks/check.sh).
#
# Base images are named by tag. Pin each by digest where the build runs
# (`FROM rust:1.95-alpine@sha256:...`, the digest from
# `docker buildx imagetools inspect rust:1.95-alpine`) for a build that
# cannot change under an unchanged Dockerfile.

FROM --platform=$BUILDPLATFORM rust:1.95-alpine AS build
# Host C tools for build scripts, python3 for zig (PyPI's ziglang), and
# readelf (binutils) for the static check. Versions come with the base
# image's Alpine release.
# hadolint ignore=DL3018
RUN apk add --no-cache build-base python3 binutils
WORKDIR /src
# The image has no .git: the commit `--version` names comes in as an
# argument (docker build --build-arg AUDITSHIP_COMMIT="$(git rev-parse HEAD)" .).
ARG AUDITSHIP_COMMIT=unknown
ENV AUDITSHIP_COMMIT=${AUDITSHIP_COMMIT}
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
COPY tests/testkit/Cargo.toml tests/testkit/Cargo.toml
COPY tests/testkit/src tests/testkit/src
COPY tests/bench tests/bench
COPY deploy/build-static.sh deploy/build-static.sh
# amd64 or arm64: the platform the image is for (buildx sets it).
ARG TARGETARCH
RUN deploy/build-static.sh "$TARGETARCH" release /auditship

FROM alpine:3.22 AS certs
# hadolint ignore=DL3018
RUN apk add --no-cache ca-certificates
# RDS certificates chain to Amazon RDS CAs, which no public root store
# holds: the bundle of every region's roots, for database TLS (doctor,
# --discover sql). AWS rotates it; each image build takes the current one.
ADD https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem /etc/ssl/rds/global-bundle.pem

FROM scratch
COPY --from=certs /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=certs /etc/ssl/rds/global-bundle.pem /etc/ssl/rds/global-bundle.pem
COPY --from=build /auditship /usr/local/bin/auditship
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
ENV AUDITSHIP_DB_CA_FILE=/etc/ssl/rds/global-bundle.pem
# nobody: the task needs no privilege, and the image has no shell to use one.
USER 65534:65534
ENTRYPOINT ["/usr/local/bin/auditship"]
CMD ["run"]
