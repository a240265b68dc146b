export * from './config';
export * from './client-address';
export * from './logger';
export * from './keys';
export * from './redis';
export * from './lifecycle';
export * from './frames';
export * from './names';
