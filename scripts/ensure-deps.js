#!/usr/bin/env node
// Runs before `npm test`: the integration tests start real redis-server, nginx and
// openssl processes, drive Debian's chromium (the SDK's browser build and the web client;
// npm cannot download browsers here), check docker-compose.yml with docker-compose, and run
// it for real on a Docker engine (dockerd from docker.io, base images made with mmdebstrap). Missing
// Debian packages are installed when running as root; otherwise the test run stops at
// once with the command that installs them.
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');

const needed = [
  { command: 'redis-server', pkg: 'redis-server' },
  { command: 'nginx', pkg: 'nginx', paths: ['/usr/sbin/nginx'] },
  { command: 'openssl', pkg: 'openssl' },
  // test/support/chromium.ts launches /usr/bin/chromium through playwright-core.
  { command: 'chromium', pkg: 'chromium', paths: ['/usr/bin/chromium'] },
  // `docker-compose config` checks docker-compose.yml; it needs no Docker engine.
  { command: 'docker-compose', pkg: 'docker-compose' },
  // test/deploy/compose-up.test.ts: the engine (the test starts dockerd itself, as root) and
  // the base images it builds where none can be pulled (scripts/docker-base-images.sh).
  { command: 'docker', pkg: 'docker.io' },
  { command: 'dockerd', pkg: 'docker.io', paths: ['/usr/sbin/dockerd'] },
  { command: 'mmdebstrap', pkg: 'mmdebstrap' },
];

function has(tool) {
  if (spawnSync('sh', ['-c', `command -v ${tool.command}`], { stdio: 'ignore' }).status === 0) return true;
  return (tool.paths || []).some((p) => spawnSync('test', ['-x', p]).status === 0);
}

const missing = [...new Set(needed.filter((tool) => !has(tool)).map((tool) => tool.pkg))];
if (missing.length === 0) process.exit(0);

const install = `apt-get update && apt-get install -y --no-install-recommends ${missing.join(' ')}`;
if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
  console.error(`missing: ${missing.join(', ')}. Install them with:\n  sudo sh -c '${install}'`);
  process.exit(1);
}
console.error(`installing ${missing.join(', ')} ...`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
// policy-rc.d keeps the packages' own services from starting on their default ports.
execFileSync(
  'sh',
  [
    '-c',
    `printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d; ` +
      `apt-get install -y -qq --no-install-recommends ${missing.join(' ')}; rc=$?; rm -f /usr/sbin/policy-rc.d; exit $rc`,
  ],
  { stdio: 'inherit', env },
);
