# pbi-backup as a container image: the release binary on a small Debian base, run as a non-root user.
#
#   docker build -t pbi-backup .
#   docker run --rm -e AZURE_TENANT_ID -e AZURE_CLIENT_ID -e AZURE_CLIENT_SECRET \
#       -v "$PWD/pbi-backup.toml:/etc/pbi-backup/pbi-backup.toml:ro" pbi-backup run --json
#
# The build needs a C compiler (the XPress9 decoder and SQLite are compiled from source); the image needs only libc
# and the CA certificates (TLS is rustls; no OpenSSL). A shell stays in the image for schedulers that compute the
# shard in one (the Kubernetes example).

FROM rust:1.89-bookworm AS build
# The commit --version names (the context has no .git): docker build --build-arg COMMIT=$(git rev-parse --short=12 HEAD)
ARG COMMIT=unknown
ENV PBI_BACKUP_COMMIT=$COMMIT
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p backup-cli \
 && install -D -m 0755 target/release/pbi-backup /out/pbi-backup

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/pbi-backup --create-home pbi-backup \
 && mkdir -p /etc/pbi-backup
COPY --from=build /out/pbi-backup /usr/local/bin/pbi-backup
USER 10001:10001
WORKDIR /etc/pbi-backup
# Logs as JSON lines with timestamps, for the platform's log store; stdout carries the --json report, one line.
ENV PBI_BACKUP_LOG_FORMAT=json \
    PBI_BACKUP_NO_PROGRESS=1
ENTRYPOINT ["pbi-backup"]
CMD ["--help"]
