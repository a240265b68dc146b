// What the tests exercise: the parts the reported figures depend on.
export * from './histogram';
export * from './layout';
export * from './load/schedule';
export * from './load/protocol';
export * from './options';
export * from './proc-stats';
export * from './runner';
export * from './summary';
export * from './systems';
export type * from './results';
