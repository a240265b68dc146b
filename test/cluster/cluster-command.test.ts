import { expect } from 'chai';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installCommand, locateTools, missingToolsMessage, REQUIRED_TOOLS } from '@securechat/cluster';
import { ENTRIES, runToExit } from '../support/processes';

/** `npm run cluster`'s entry point with exactly `env`, to its end. */
async function run(env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string }> {
  const { code, stderr } = await runToExit(ENTRIES.cluster, env, { name: 'cluster' });
  return { code, stderr };
}

describe('npm run cluster: prerequisites', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'securechat-path-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('exits at once with the install command when the tools are not on PATH', async () => {
    const clusterDir = join(dir, 'cluster-state');
    const result = await run({ PATH: join(dir, 'empty'), CLUSTER_DIR: clusterDir });
    expect(result.code).to.equal(1);
    expect(result.stderr).to.include('apt-get update && apt-get install -y --no-install-recommends');
    // Debian's nginx lives in /usr/sbin, which is searched too; these two are not there.
    expect(result.stderr).to.match(/missing: .*redis-server/);
    expect(result.stderr).to.match(/missing: .*openssl/);
    // "At once": before it made its state directory, let alone started a process.
    expect(existsSync(clusterDir), 'it started doing things').to.equal(false);
  });

  it('names exactly the missing tool and its package when nginx alone is absent', () => {
    const bin = join(dir, 'bin');
    mkdirSync(bin, { recursive: true });
    const present = locateTools(process.env.PATH);
    for (const command of ['redis-server', 'openssl']) {
      const target = present.found.get(command);
      if (target === undefined) throw new Error(`${command} is not installed here`);
      symlinkSync(target, join(bin, command));
    }
    const { found, missing } = locateTools(bin, REQUIRED_TOOLS, []);
    expect(missing.map((t) => t.command)).to.deep.equal(['nginx']);
    expect(found.get('openssl')).to.equal(join(bin, 'openssl'));
    expect(installCommand(missing)).to.equal(
      'apt-get update && apt-get install -y --no-install-recommends nginx',
    );
    expect(missingToolsMessage(missing, false)).to.include(
      "sudo sh -c 'apt-get update && apt-get install -y --no-install-recommends nginx'",
    );
  });

  it('finds nginx in /usr/sbin when PATH lacks it (an ordinary Debian user)', function () {
    if (!existsSync('/usr/sbin/nginx')) this.skip();
    expect(locateTools('/nonexistent').found.get('nginx')).to.equal('/usr/sbin/nginx');
  });
});
