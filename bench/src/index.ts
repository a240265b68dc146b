// What the tests exercise: the parts the reported figures depend on.
export * from './histogram';
export * from './layout';
export * from './load/schedule';
export * from './load/protocol';
export * from './proc-stats';
export * from './summary';
export type * from './results';
