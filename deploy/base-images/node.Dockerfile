# Stand-in for node:20-bookworm-slim, built by scripts/docker-base-images.sh from the
# imported Debian base and the build machine's own Node.js (a binary linked against
# bookworm's glibc) and npm. Keeps the official image's conventions: node and npm on PATH
# in /usr/local, user and group 1000 named `node` with home /home/node.
ARG BASE
FROM ${BASE}
RUN groupadd --gid 1000 node \
    && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
# The build machine's CA bundle: npm inside a build reaches the registry through whatever
# intercepting proxy the machine trusts. NODE_EXTRA_CA_CERTS adds to Node's own roots.
COPY ca-certificates.crt /usr/local/share/securechat-base/ca-certificates.crt
ENV NODE_EXTRA_CA_CERTS=/usr/local/share/securechat-base/ca-certificates.crt
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
    && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
    && node --version && npm --version
CMD ["node"]
