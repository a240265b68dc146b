# Stand-in for redis:7.2-bookworm, built by scripts/docker-base-images.sh: Debian's own
# redis-server (7.0 in bookworm) on the imported Debian base. Keeps the official image's
# conventions: redis-server and redis-cli on PATH, user and group 999 named `redis`, data in
# /data (owned by redis, the working directory), port 6379. The official image drops to
# `redis` in its entrypoint; this one simply runs as that user.
ARG BASE
FROM ${BASE}
ARG DEBIAN_FRONTEND=noninteractive
RUN groupadd --system --gid 999 redis \
    && useradd --system --uid 999 --gid redis --home-dir /data --no-create-home redis \
    && apt-get update \
    && apt-get install -y --no-install-recommends redis-server redis-tools \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir /data && chown redis:redis /data \
    && redis-server --version
WORKDIR /data
VOLUME /data
USER redis:redis
EXPOSE 6379
CMD ["redis-server"]
