export * from './protocol';
export * from './parse';
export * from './errors';
export * from './message-id';
export * from './room-cursors';
