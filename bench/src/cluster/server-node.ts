import { httpStatus, ManagedProcess } from '@securechat/cluster';

export interface ServerNode {
  readonly proc: ManagedProcess;
  readonly port: number;
}

/**
 * One server node of a system under test: `node <script>` with exactly the given
 * environment, its output in a log file (so logging costs the node what it costs in
 * production, and nothing here), ready once GET /readyz answers 200. In the bench's
 * process group: a Ctrl-C on the bench ends it too.
 */
export async function startServerNode(
  name: string,
  script: string,
  env: Record<string, string>,
  port: number,
  logFile: string,
  nodeArgs: readonly string[] = [],
): Promise<ServerNode> {
  const proc = ManagedProcess.node({
    name,
    script,
    env,
    nodeArgs,
    output: { file: logFile },
    ownGroup: false,
  }).start();
  try {
    await proc.waitUntil(
      async () => (await httpStatus(`http://127.0.0.1:${port}/readyz`, undefined, 1000)) === 200,
      {
        what: `/readyz on port ${port}`,
        timeoutMs: 30_000,
        intervalMs: 100,
      },
    );
  } catch (err) {
    await proc.stop('SIGKILL', 1000);
    throw err;
  }
  return { proc, port };
}
