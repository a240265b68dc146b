/**
 * Polls a condition until it holds or its deadline passes (5 s, every 20 ms, unless told):
 * the one polling wait of the harnesses, from @securechat/cluster.
 */
export { waitFor } from '@securechat/cluster';
