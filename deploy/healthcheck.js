#!/usr/bin/env node
// The image's HEALTHCHECK: GET /healthz on this container's own node. Exits 0 on a 200.
'use strict';
const http = require('node:http');

const port = Number(process.env.PORT || 8080);
const req = http.get({ host: '127.0.0.1', port, path: '/healthz', timeout: 2000 }, (res) => {
  res.resume();
  process.exit(res.statusCode === 200 ? 0 : 1);
});
req.on('timeout', () => req.destroy(new Error('timeout')));
req.on('error', () => process.exit(1));
