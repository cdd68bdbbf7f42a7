# syntax=docker/dockerfile:1
# auditship: a static binary, CA certificates, and nothing else.
#
#   docker buildx build --platform linux/arm64,linux/amd64 \
#     --build-arg AUDITSHIP_COMMIT="$(git rev-parse HEAD)" -t auditship .
#
# The build stage runs on the target platform (under emulation for the
# other architecture) and builds for its native musl target, so the binary
# is static with no cross toolchain: the same target and features that
# tests/deploy/check.sh builds and starts in CI, where no Docker engine runs.

FROM rust:1.95-alpine AS build
# A C compiler for aws-lc (the TLS crypto) and musl's headers. Versions come
# with the pinned base image's Alpine release.
# hadolint ignore=DL3018
RUN apk add --no-cache build-base cmake perl
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
RUN cargo build --release --locked --bin auditship \
    && cp "target/release/auditship" /auditship \
    && /auditship --version

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
