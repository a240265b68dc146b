import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManagedProcess, type ExitInfo, type ProcessOutput } from '@securechat/cluster';
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
    output: (line, stream) => lines.push(`${stream}:${line}`),
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
      output: () => undefined,
      onExit: (info, expected) => exits.push({ info, expected }),
    });
    proc.start();
    const info = await proc.exited();
    expect(info.error).to.match(/ENOENT/);
    expect(exits[0]?.expected).to.equal(false);
  });
});

describe('ManagedProcess (the harnesses’ child: captured or filed output, waits with deadlines)', () => {
  const node = (script: string, output: ProcessOutput = 'capture', env: NodeJS.ProcessEnv = {}) =>
    ManagedProcess.node({ name: 'child', script: '-e', args: [script], env, output, ownGroup: false });

  it('runs with exactly the environment given, and keeps stdout and stderr apart', async () => {
    const proc = node(
      'console.log(JSON.stringify(process.env)); console.log(\'{"message":"up","n":1}\'); console.error(\'oops\')',
      'capture',
      { ONLY_THIS: 'yes' },
    ).start();
    expect((await proc.exitWithin(10_000)).code).to.equal(0);
    const [env, ...logs] = proc.logLines();
    expect(env).to.deep.equal({ ONLY_THIS: 'yes' });
    expect(logs).to.deep.equal([{ message: 'up', n: 1 }]);
    expect(proc.lines('stderr')).to.deep.equal(['oops']);
    expect(proc.text()).to.include('oops');
  });

  it('has read the output to its end when exited() resolves, even a line written after the exit', async () => {
    // The child exits at once; a grandchild holding its stdout writes one more line later.
    const proc = node(
      "const late = require('child_process').spawn(process.execPath, ['-e', " +
        "\"setTimeout(() => console.log('late'), 300)\"], { stdio: 'inherit' });" +
        "late.unref(); console.log('early'); process.exitCode = 3",
    ).start();
    let exitSeen = false;
    const exitEvent = waitFor(() => proc.exit, { what: 'the exit' }).then(() => (exitSeen = true));
    const info = await proc.exited();
    await exitEvent;
    expect(exitSeen).to.equal(true);
    expect(info).to.deep.equal({ code: 3, signal: null });
    expect(proc.lines('stdout')).to.deep.equal(['early', 'late']);
  });

  it('waits for a line, and rejects at once when the process ends without it', async () => {
    const proc = node(
      'setTimeout(() => console.log(\'{"message":"ready","port":7}\'), 50); setInterval(() => {}, 1000)',
    ).start();
    expect(await proc.waitForLog((l) => l.message === 'ready')).to.deep.equal({ message: 'ready', port: 7 });
    await proc.stop('SIGTERM', 5000);

    const quitter = node("console.log('bye')").start();
    const started = Date.now();
    const err = await quitter
      .waitForLine((l) => l === 'never', 10_000)
      .then(
        () => undefined,
        (e: Error) => e,
      );
    expect(err?.message).to.match(/exited with code 0 before the line; output: bye/);
    expect(Date.now() - started).to.be.below(5000);
  });

  it('rejects a wait for a line at its deadline', async () => {
    const proc = node('setInterval(() => {}, 1000)').start();
    try {
      const err = await proc
        .waitForLine(() => false, 100)
        .then(
          () => undefined,
          (e: Error) => e,
        );
      expect(err?.message).to.match(/no such line from child within 100 ms/);
    } finally {
      await proc.stop('SIGKILL', 1000);
    }
  });

  it('writes to a file when told, where the lines and the waits find it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'securechat-managed-'));
    try {
      const file = join(dir, 'node.log');
      const proc = node('console.log(\'{"message":"filed"}\'); console.error(\'to the same file\')', {
        file,
      }).start();
      await proc.exitWithin(10_000);
      expect(readFileSync(file, 'utf8')).to.equal('{"message":"filed"}\nto the same file\n');
      expect(proc.logLines()).to.deep.equal([{ message: 'filed' }]);
      expect(await proc.waitForLine((l) => l === 'to the same file', 1000)).to.equal('to the same file');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('waitUntil gives up as soon as the process dies, naming its exit and output', async () => {
    const proc = node("console.error('cannot start'); process.exit(2)").start();
    const err = await proc
      .waitUntil(() => false, { what: 'ready', timeoutMs: 10_000 })
      .then(
        () => undefined,
        (e: Error) => e,
      );
    expect(err?.message).to.match(/child: ready: exited with code 2; output: cannot start/);
  });

  it('exitWithin kills a process that outlives its deadline', async () => {
    const proc = node('setInterval(() => {}, 1000)').start();
    const err = await proc.exitWithin(100).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).to.match(/still running after 100 ms/);
    expect(await proc.exited()).to.deep.equal({ code: null, signal: 'SIGKILL' });
  });

  it('a child without a group of its own is signalled alone', async () => {
    const proc = node('setInterval(() => {}, 1000)').start();
    const pid = proc.pid as number;
    expect(() => process.kill(-pid, 0), 'no group led by the child').to.throw();
    expect((await proc.stop('SIGKILL', 1000))?.signal).to.equal('SIGKILL');
  });
});
