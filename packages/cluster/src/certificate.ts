import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export interface TlsFiles {
  cert: string;
  key: string;
}

/** The names a local browser or client uses for the cluster. */
export const CERT_SUBJECT_ALT_NAMES = 'IP:127.0.0.1,DNS:localhost';

/** openssl arguments for a self-signed ECDSA P-256 certificate; compose's certs step uses the same. */
export function selfSignedArguments(certFile: string, keyFile: string, days = 365): string[] {
  return [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-sha256',
    '-days',
    String(days),
    '-subj',
    '/CN=localhost',
    '-addext',
    `subjectAltName=${CERT_SUBJECT_ALT_NAMES}`,
    '-keyout',
    keyFile,
    '-out',
    certFile,
  ];
}

/**
 * `<dir>/cert.pem` and `<dir>/key.pem`, made with openssl when either is missing. Written
 * under temporary names first, so an interrupted run never leaves half a pair.
 */
export async function ensureCertificate(
  dir: string,
  openssl = 'openssl',
): Promise<TlsFiles & { created: boolean }> {
  const files = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
  if (existsSync(files.cert) && existsSync(files.key)) return { ...files, created: false };
  mkdirSync(dir, { recursive: true });
  const tmp = { cert: `${files.cert}.new`, key: `${files.key}.new` };
  try {
    await run(openssl, selfSignedArguments(tmp.cert, tmp.key));
    chmodSync(tmp.key, 0o600);
    renameSync(tmp.key, files.key);
    renameSync(tmp.cert, files.cert);
  } finally {
    rmSync(tmp.cert, { force: true });
    rmSync(tmp.key, { force: true });
  }
  return { ...files, created: true };
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`${command} ${args[0] ?? ''} failed (${code}): ${stderr.trim().slice(-500)}`));
    });
  });
}
