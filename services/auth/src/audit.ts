import type { Logger } from '@securechat/common';

export type AuditEvent =
  | 'register'
  | 'register_rate_limited'
  | 'login_success'
  | 'login_failure'
  | 'login_rate_limited'
  | 'login_blocked'
  | 'refresh'
  | 'refresh_failure'
  | 'refresh_reuse'
  | 'logout'
  | 'token_refused';

export interface AuditContext {
  requestId: string;
  address: string;
}

/** One JSON line per security event, marked `audit: true` for log routing. */
export function audit(
  logger: Logger,
  event: AuditEvent,
  ctx: AuditContext,
  fields: Record<string, string | number | undefined> = {},
): void {
  logger.info(event, { audit: true, event, request_id: ctx.requestId, address: ctx.address, ...fields });
}
