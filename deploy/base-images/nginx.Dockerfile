# Stand-in for nginx:1.27-bookworm, built by scripts/docker-base-images.sh: Debian's own
# nginx (1.22 in bookworm) on the imported Debian base. Keeps the official image's
# conventions: `nginx` on PATH, user and group 101 named `nginx` (workers run as it; compose
# runs the whole server as 101:101), logs to the container's stdout and stderr, SIGQUIT to
# stop gracefully.
ARG BASE
FROM ${BASE}
ARG DEBIAN_FRONTEND=noninteractive
RUN groupadd --system --gid 101 nginx \
    && useradd --system --uid 101 --gid nginx --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin nginx \
    && apt-get update \
    && apt-get install -y --no-install-recommends nginx \
    && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/default \
    && sed -i 's/^user www-data;/user nginx;/' /etc/nginx/nginx.conf \
    && ln -sf /dev/stdout /var/log/nginx/access.log \
    && ln -sf /dev/stderr /var/log/nginx/error.log \
    && nginx -v
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
