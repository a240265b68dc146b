export * from './registry';
export * from './instruments';
export * from './redis';
export * from './server';
export * from './exposition';
export * from './directory';
export * from './serve';
