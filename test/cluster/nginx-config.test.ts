import { expect } from 'chai';
import { KEEP_ALIVE_TIMEOUT_MS } from '@securechat/common';
import {
  fillTemplate,
  LOCAL_LIMITS,
  readNginxTemplate,
  renderNginxConfig,
  type NginxSettings,
} from '@securechat/cluster';
import { ROOT } from '../support/processes';

const settings: NginxSettings = {
  runDir: '/tmp/run',
  errorLog: 'stderr',
  accessLog: '/tmp/run/access.log',
  httpsListen: '127.0.0.1:8443',
  httpListen: '127.0.0.1:8080',
  publicHttpsPort: 8443,
  serverName: 'localhost',
  publicHost: 'chat.example',
  certFile: '/tmp/run/cert.pem',
  keyFile: '/tmp/run/key.pem',
  webRoot: '/srv/web',
  authServers: [
    { host: '127.0.0.1', port: 9001 },
    { host: '127.0.0.1', port: 9002 },
  ],
  chatServers: [{ host: 'chat-1', port: 8080 }],
  limits: LOCAL_LIMITS,
  workerProcesses: 'auto',
  workerConnections: 16384,
  workerRlimitNofile: 65535,
};

describe('nginx template rendering', () => {
  const template = readNginxTemplate(ROOT);

  it('refuses a placeholder without a value and a value without a placeholder', () => {
    expect(() => fillTemplate('a {{X}} b', {})).to.throw('{{X}}');
    expect(() => fillTemplate('a {{X}} b', { X: '1', Y: '2' })).to.throw('Y');
    expect(fillTemplate('a {{X}} b {{X}}', { X: '1' })).to.equal('a 1 b 1');
  });

  it('fills every placeholder of the template', () => {
    const config = renderNginxConfig(template, settings);
    expect(config).not.to.match(/\{\{|\}\}/);
    expect(config).to.include('server 127.0.0.1:9001 max_fails=3 fail_timeout=10s;');
    expect(config).to.include('server 127.0.0.1:9002 max_fails=3 fail_timeout=10s;');
    expect(config).to.include('server chat-1:8080 max_fails=3 fail_timeout=10s;');
    expect(config).to.include('return 301 https://chat.example:8443$request_uri;');
    expect(config).to.include(`limit_conn conn_per_address ${LOCAL_LIMITS.connectionsPerAddress};`);
  });

  it('keeps what the security of the edge depends on', () => {
    const config = renderNginxConfig(template, settings);
    expect(config).to.match(/^\s*ssl_protocols TLSv1\.2 TLSv1\.3;$/m);
    expect(config).to.include('server_tokens off;');
    expect(config).not.to.include('$proxy_add_x_forwarded_for');
    expect(config.match(/proxy_set_header X-Forwarded-For \$remote_addr;/g)).to.have.length(4);
    const logFormat = /log_format securechat[^;]*;/s.exec(config)?.[0] ?? '';
    expect(logFormat).to.include('$uri');
    expect(logFormat).not.to.match(/\$request\b|\$request_uri|\$args|\$query_string|\$http_referer/);
    expect(config).to.match(/proxy_read_timeout 75s;/);
    expect(config).not.to.include('ip_hash');
  });

  it('refuses paths that nginx would read as variables or split', () => {
    expect(() => renderNginxConfig(template, { ...settings, webRoot: '/srv/$web' })).to.throw('webRoot');
    expect(() => renderNginxConfig(template, { ...settings, certFile: 'relative.pem' })).to.throw('certFile');
    expect(() => renderNginxConfig(template, { ...settings, runDir: '/tmp/a b' })).to.throw('runDir');
    expect(() => renderNginxConfig(template, { ...settings, chatServers: [] })).to.throw('chatServers');
  });

  it('leaves out the port of the redirect for 443', () => {
    const config = renderNginxConfig(template, { ...settings, publicHttpsPort: 443 });
    expect(config).to.include('return 301 https://chat.example$request_uri;');
  });

  it('never redirects to the Host a client sent', () => {
    const config = renderNginxConfig(template, settings);
    expect(config).not.to.match(/https:\/\/\$host|\$http_host/);
    expect(config.match(/https:\/\/chat\.example:8443\$request_uri;/g)).to.have.length(2);
    expect(() => renderNginxConfig(template, { ...settings, publicHost: 'evil$host' })).to.throw(
      'public host',
    );
  });

  it('closes idle upstream connections before the nodes do, so a POST never meets a closing one', () => {
    const config = renderNginxConfig(template, settings);
    const upstream = /upstream auth_nodes \{[^}]*\}/s.exec(config)?.[0] ?? '';
    const timeout = /keepalive_timeout (\d+)s;/.exec(upstream);
    expect(timeout, 'an explicit keepalive_timeout in the auth upstream').to.not.equal(null);
    // nginx's default (60 s) was longer than Node's (5 s): a POST met a closed connection, 502
    expect(Number(timeout?.[1]) * 1000).to.be.below(KEEP_ALIVE_TIMEOUT_MS - 10_000);
  });

  it('connects to the nodes from its own address when one is given (proxy_bind)', () => {
    expect(renderNginxConfig(template, { ...settings, proxyBind: '127.0.0.2' })).to.match(
      /^\s*proxy_bind 127\.0\.0\.2;$/m,
    );
    expect(renderNginxConfig(template, settings)).not.to.match(/^\s*proxy_bind /m);
    expect(() => renderNginxConfig(template, { ...settings, proxyBind: '127.0.0.2; evil' })).to.throw(
      'proxyBind',
    );
  });

  it('handles every request with a query string under /_quiet/, whose error log is off', () => {
    const config = renderNginxConfig(template, settings);
    expect(config).to.match(/if \(\$args != ""\) \{\s*rewrite \^\/\(\?!_\) \/_quiet\$uri last;\s*\}/);
    const quiet = config.slice(config.indexOf('location ^~ /_quiet/ {'));
    expect(quiet).to.match(/^location \^~ \/_quiet\/ \{\s*internal;\s*error_log stderr crit;/);
    for (const inner of ['location = /_quiet/ws', 'location ^~ /_quiet/auth/', 'location /_quiet/']) {
      expect(quiet).to.include(inner);
    }
    expect(config).not.to.include('$arg_token');
  });
});
