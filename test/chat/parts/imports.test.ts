import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../support/processes';

const SRC = join(ROOT, 'services/chat/src');

/** The chat service's own modules and what each imports from the others (types included). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of readdirSync(SRC).filter((f) => f.endsWith('.ts'))) {
    const text = readFileSync(join(SRC, file), 'utf8');
    const deps = [...text.matchAll(/from '\.\/([\w-]+)'/g)].map((m) => `${m[1] as string}.ts`);
    graph.set(file, deps);
  }
  return graph;
}

describe('the chat service’s module graph', () => {
  it('has no import cycle: parts never reach back into the node', () => {
    const graph = importGraph();
    const cycles: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (file: string, path: string[]) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'visiting') {
        cycles.push([...path.slice(path.indexOf(file)), file].join(' → '));
        return;
      }
      state.set(file, 'visiting');
      for (const dep of graph.get(file) ?? []) visit(dep, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of graph.keys()) visit(file, []);
    expect(cycles).to.deep.equal([]);
    expect(graph.get('requests.ts')).to.not.include('chat-node.ts');
  });

  it('keeps ws at the edge: only connection.ts imports it', () => {
    const importers = [...importGraph().keys()].filter((file) =>
      /from 'ws'/.test(readFileSync(join(SRC, file), 'utf8')),
    );
    expect(importers).to.deep.equal(['connection.ts']);
  });
});
