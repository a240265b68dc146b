export * from './ports';
export * from './memory/auth-state';
export * from './memory/expiring-map';
export * from './redis/auth-state';
export { luaScript } from './redis/lua';
