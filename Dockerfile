# syntax=docker/dockerfile:1.7
#
# One image for every process of the identity service: `identity-core` (gRPC identity service,
# also `identity-core migrate`), `scim-edge` (SCIM 2.0 front end) and `identity-admin` (the admin
# CLI). The Helm chart picks the process with `command:`.
#
#   docker build -t registry.example.com/identity:0.1.0 .
#   docker run --rm registry.example.com/identity:0.1.0 identity-core --help

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build
WORKDIR /src
# protobuf files are compiled by protox inside build.rs: no protoc needed
COPY . .
# cache mounts keep the registry and the target dir between builds without growing the image
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p identity-core -p scim-edge -p identity-admin --bins \
 && mkdir -p /out \
 && cp target/release/identity-core target/release/scim-edge target/release/identity-admin /out/

# glibc, libgcc and CA certificates, no shell, no package manager; runs as uid 65532
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=build /out/ /usr/local/bin/
# listeners bind all interfaces inside the container; the defaults of the binaries are loopback
ENV IDENTITY_LISTEN_ADDR=0.0.0.0:50051 \
    IDENTITY_ADMIN_LISTEN_ADDR=0.0.0.0:50052 \
    SCIM_EDGE_LISTEN_ADDR=0.0.0.0:8080 \
    LOG_FORMAT=json
USER 65532:65532
EXPOSE 50051 50052 8080
ENTRYPOINT []
CMD ["identity-core", "serve"]
