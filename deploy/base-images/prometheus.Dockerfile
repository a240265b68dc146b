# Stand-in for prom/prometheus:v2.53.0, built by scripts/docker-base-images.sh: Debian's own
# prometheus (2.42 in bookworm) on the imported Debian base. Keeps the official image's
# conventions, which the compose service relies on (read-only root, no capabilities, only
# flags as its command): the prometheus binary as entrypoint, user nobody (65534), the TSDB
# in /prometheus (owned by nobody, the working directory, a volume: a new named volume takes
# its owner), the configuration at /etc/prometheus/prometheus.yml.
ARG BASE
FROM ${BASE}
ARG DEBIAN_FRONTEND=noninteractive
# policy-rc.d: the package's maintainer scripts must not start a Prometheus in the build.
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d \
    && chmod 0755 /usr/sbin/policy-rc.d \
    && apt-get update \
    && apt-get install -y --no-install-recommends prometheus \
    && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d \
    && mkdir /prometheus && chown nobody:nogroup /prometheus \
    && prometheus --version
USER nobody
WORKDIR /prometheus
VOLUME /prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
