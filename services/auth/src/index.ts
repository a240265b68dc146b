export * from './app';
export * from './auth-service';
export * from './errors';
export * from './metrics';
export * from './node';
export * from './passwords';
export * from './validation';
