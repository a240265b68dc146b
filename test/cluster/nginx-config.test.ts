import { expect } from 'chai';
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
    expect(config).to.include('return 301 https://$host:8443$request_uri;');
    expect(config).to.include(`limit_conn conn_per_address ${LOCAL_LIMITS.connectionsPerAddress};`);
  });

  it('keeps what the security of the edge depends on', () => {
    const config = renderNginxConfig(template, settings);
    expect(config).to.match(/^\s*ssl_protocols TLSv1\.2 TLSv1\.3;$/m);
    expect(config).to.include('server_tokens off;');
    expect(config).not.to.include('$proxy_add_x_forwarded_for');
    expect(config.match(/proxy_set_header X-Forwarded-For \$remote_addr;/g)).to.have.length(3);
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
    expect(config).to.include('return 301 https://$host$request_uri;');
  });
});
