import { expect } from 'chai';
import { REDIS_OPS } from '@securechat/metrics';
import { ROLE_COMMANDS, luaScriptNames } from '@securechat/state';

describe('the Redis operation catalogue of the metrics', () => {
  it('names every Lua script and every command a node role may send, so none counts as other', () => {
    const ops = new Set<string>(REDIS_OPS);
    const scripts = [...new Set(luaScriptNames().values())];
    expect(scripts.filter((name) => !ops.has(name))).to.deep.equal([]);
    // ACL subcommands (`xinfo|stream`) are counted under their command.
    const commands = [...ROLE_COMMANDS.auth, ...ROLE_COMMANDS.chat].map((c) => c.split('|')[0] as string);
    expect(commands.filter((c) => !ops.has(c))).to.deep.equal([]);
  });
});
