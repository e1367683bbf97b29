# syntax=docker/dockerfile:1
# gonogo: one static binary (musl) on a shell-less, non-root base image.
#
#   docker build -t ghcr.io/gonogo-dev/gonogo:0.1.0 .
#   docker buildx build --platform linux/amd64,linux/arm64 -t ... .
#
# The builder is Alpine, whose Rust targets musl natively, so the binary is statically linked on
# every platform buildx builds for (ring's C and assembly need only musl-dev).

FROM rust:1.95-alpine AS build
RUN apk add --no-cache musl-dev
WORKDIR /src
# Dependencies first, so source edits reuse the cached dependency layer.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && echo 'fn main() {}' > benches/engine.rs \
    && cargo fetch --locked
COPY src ./src
COPY benches ./benches
RUN --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin gonogo \
    && install -D -m 0755 target/release/gonogo /out/gonogo

# distroless/static: CA certificates, tzdata and /etc/passwd entries, no shell, no libc.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gonogo /gonogo
# 65532 is distroless's `nonroot`; numeric, so the kubelet can verify runAsNonRoot.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/gonogo"]
CMD ["run"]
