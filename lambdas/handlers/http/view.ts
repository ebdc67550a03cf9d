/** The connection record as callers see it: ISO-8601 UTC times, no bookkeeping attributes. */
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { ConnectionRecord } from '../../broker/model';
import type { ConnectionView } from './schemas';

export function toView(record: ConnectionRecord): ConnectionView {
  return {
    id: record.id,
    serviceId: record.serviceId,
    mode: record.mode,
    hostIp: record.hostIp,
    ...(record.requestedMode && { requestedMode: record.requestedMode }),
    ...(record.requestedHostIp && { requestedHostIp: record.requestedHostIp }),
    status: record.status,
    ...(record.proxy && { proxy: record.proxy }),
    owner: record.owner,
    createdAt: record.createdAt,
    leaseExpiresAt: record.leaseExpiresAt,
    ...(record.idleClosesAt && { idleClosesAt: record.idleClosesAt }),
    expiresAt: new Date(record.expiresAt * 1000).toISOString(),
    ...(record.stoppedAt && { stoppedAt: record.stoppedAt }),
    ...(record.stopReason && { stopReason: record.stopReason }),
    ...(record.failureReason && { failureReason: record.failureReason }),
    ...(record.remoteConnectionId && { remoteConnectionId: record.remoteConnectionId }),
  };
}

export function jsonResponse(
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyStructuredResultV2 {
  return { statusCode, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}
