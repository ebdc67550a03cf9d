/** Reading an API Gateway HTTP API (payload 2.0, IAM authorizer) event into validated, typed input. */
import type { APIGatewayProxyEventV2WithIAMAuthorizer } from 'aws-lambda';
import type * as z from '../../zod';
import { connectionIdSchema, idempotencyKeySchema } from './schemas';
import { InvalidRequestError } from '../../broker/errors';
import { fieldErrors, MissingIdentityError, PayloadTooLargeError } from './problem';

export type ApiEvent = APIGatewayProxyEventV2WithIAMAuthorizer;

export interface CallerIdentity {
  /** The signer's principal ARN as API Gateway's IAM authorizer resolved it. */
  arn: string;
  /** The TCP source address API Gateway saw. */
  sourceIp: string;
}

export function identityOf(event: ApiEvent): CallerIdentity {
  // The authorizer block is typed as always present, but a misconfigured route would deliver none.
  const arn = (event.requestContext.authorizer as Partial<ApiEvent['requestContext']['authorizer']> | undefined)?.iam?.userArn;
  if (!arn) throw new MissingIdentityError();
  return { arn, sourceIp: event.requestContext.http.sourceIp };
}

/** Every route's body is a few hundred bytes; more is refused (413) before it is parsed or echoed. */
export const MAX_BODY_BYTES = 16 * 1024;

export function parseBody<S extends z.ZodMiniType>(event: ApiEvent, schema: S): z.output<S> {
  let value: unknown;
  if (event.body === undefined || event.body === '') {
    value = undefined;
  } else {
    const bytes = Buffer.byteLength(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
    if (bytes > MAX_BODY_BYTES) throw new PayloadTooLargeError(bytes, MAX_BODY_BYTES);
    const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
    try {
      value = JSON.parse(text);
    } catch {
      throw new InvalidRequestError([{ field: 'body', message: 'is not valid JSON' }]);
    }
  }
  if (value === undefined || value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidRequestError([{ field: 'body', message: 'must be a JSON object' }]);
  }
  const result = schema.safeParse(value);
  if (!result.success) throw new InvalidRequestError(fieldErrors(result.error, value));
  return result.data;
}

export function parseQuery<S extends z.ZodMiniType>(event: ApiEvent, schema: S): z.output<S> {
  const query = event.queryStringParameters ?? {};
  const result = schema.safeParse(query);
  if (!result.success) throw new InvalidRequestError(fieldErrors(result.error, query));
  return result.data;
}

export function connectionIdOf(event: ApiEvent): string {
  const result = connectionIdSchema.safeParse(event.pathParameters?.id);
  if (!result.success) throw new InvalidRequestError(fieldErrors(result.error, event.pathParameters?.id, 'id'));
  return result.data;
}

/** The optional `Idempotency-Key` header (API Gateway lower-cases header names in payload 2.0). */
export function idempotencyKeyOf(event: ApiEvent): string | undefined {
  const raw = event.headers['idempotency-key'];
  if (raw === undefined) return undefined;
  const result = idempotencyKeySchema.safeParse(raw);
  if (!result.success) throw new InvalidRequestError(fieldErrors(result.error, raw, 'Idempotency-Key'));
  return result.data;
}
