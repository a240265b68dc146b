/** The Node build of the SDK (`@securechat/sdk`): `ws` underneath. */
export * from './shared';
export { ChatClient, Connection, type ChatClientOptions, type ConnectionSettings } from './node/client';
export { wsTransport, type NodeTransportOptions } from './node/ws-transport';
