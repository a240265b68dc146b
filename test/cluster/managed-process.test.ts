import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { ManagedProcess, type ExitInfo } from '@securechat/cluster';
import { waitFor } from '../support/wait';

/** Running, not a zombie waiting for whoever inherited it to reap it. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function nodeProcess(
  script: string,
  lines: string[] = [],
  exits: { info: ExitInfo; expected: boolean }[] = [],
): ManagedProcess {
  return new ManagedProcess({
    name: 'child',
    command: process.execPath,
    args: ['-e', script],
    env: { PATH: process.env.PATH },
    onLine: (line, stream) => lines.push(`${stream}:${line}`),
    onExit: (info, expected) => exits.push({ info, expected }),
  });
}

describe('ManagedProcess (the cluster supervisor’s child)', () => {
  it('delivers every output line with its stream', async () => {
    const lines: string[] = [];
    const proc = nodeProcess("console.log('one\\ntwo'); console.error('three')", lines);
    proc.start();
    expect(await proc.exited()).to.deep.equal({ code: 0, signal: null });
    await waitFor(() => lines.length === 3, { what: 'three lines' });
    expect(lines).to.have.members(['stdout:one', 'stdout:two', 'stderr:three']);
  });

  it('tells an unexpected death from a stop', async () => {
    const exits: { info: ExitInfo; expected: boolean }[] = [];
    const dying = nodeProcess('setInterval(() => {}, 1000)', [], exits);
    dying.start();
    process.kill(dying.pid as number, 'SIGKILL');
    await dying.exited();
    const stopped = nodeProcess('setInterval(() => {}, 1000)', [], exits);
    stopped.start();
    await stopped.stop('SIGTERM', 5000);
    expect(exits).to.deep.equal([
      { info: { code: null, signal: 'SIGKILL' }, expected: false },
      { info: { code: null, signal: 'SIGTERM' }, expected: true },
    ]);
  });

  it('kills a child that ignores SIGTERM after the grace period, and what it started', async () => {
    const lines: string[] = [];
    const proc = nodeProcess(
      "process.on('SIGTERM', () => {});" +
        "const c = require('child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);" +
        'console.log(c.pid); setInterval(() => {}, 1000);',
      lines,
    );
    proc.start();
    const grandchild = Number(
      (await waitFor(() => lines[0], { what: 'the grandchild pid' })).slice('stdout:'.length),
    );
    expect(alive(grandchild)).to.equal(true);
    const started = Date.now();
    const info = await proc.stop('SIGTERM', 300);
    expect(Date.now() - started).to.be.at.least(250);
    expect(info?.signal).to.equal('SIGKILL');
    await waitFor(() => !alive(grandchild), { what: 'the grandchild to die' });
  });

  it('reports a command that cannot start', async () => {
    const exits: { info: ExitInfo; expected: boolean }[] = [];
    const proc = new ManagedProcess({
      name: 'missing',
      command: '/nonexistent/securechat-tool',
      args: [],
      env: {},
      onLine: () => undefined,
      onExit: (info, expected) => exits.push({ info, expected }),
    });
    proc.start();
    const info = await proc.exited();
    expect(info.error).to.match(/ENOENT/);
    expect(exits[0]?.expected).to.equal(false);
  });
});
