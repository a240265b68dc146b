export * from './app';
export * from './auth-service';
export * from './errors';
export * from './node';
export * from './passwords';
export * from './validation';
export * from './origins';
export * from './session-cookie';
