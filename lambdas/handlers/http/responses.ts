/**
 * The API's answers as zod schemas: the handlers' and the client's types, and the answers in
 * docs/openapi.yaml (`npm run openapi` imports this module to register them). The Lambdas never parse
 * their own answers, so lambdas/ imports only types from here and the bundles do not build these schemas.
 */
import * as z from '../../zod';
import { CONNECTION_MODES, CONNECTION_STATUSES } from '../../broker/model';

const isoTime = z.iso.datetime();

export const connectionViewSchema = z
  .object({
    id: z.string(),
    serviceId: z.string(),
    mode: z.enum(CONNECTION_MODES).register(z.globalRegistry, {
      description: 'the mode the proxy has: public for a reverse proxy (http services), whatever was asked',
    }),
    hostIp: z.string().register(z.globalRegistry, {
      description: 'who remote.it admits: 255.255.255.255 latching, 0.0.0.0 public (every reverse proxy), or one IPv4',
    }),
    requestedMode: z.optional(z.enum(CONNECTION_MODES)).register(z.globalRegistry, {
      description: 'the mode asked for, when remote.it made the proxy something else (an http service\'s reverse proxy is always public)',
    }),
    requestedHostIp: z.optional(z.string()).register(z.globalRegistry, {
      description: 'the hostip asked for, when remote.it made the proxy public',
    }),
    status: z.enum(CONNECTION_STATUSES),
    proxy: z
      .optional(
        z.object({
          kind: z.enum(['port', 'reverse']),
          url: z.string(),
          host: z.string(),
          port: z.number().check(z.int()),
        }),
      )
      .register(z.globalRegistry, { description: 'absent until remote.it has opened the proxy' }),
    owner: z.string(),
    createdAt: isoTime,
    leaseExpiresAt: isoTime,
    idleClosesAt: z.optional(isoTime).register(z.globalRegistry, {
      description:
        'once active: when remote.it closes the proxy if nobody has connected through it (it closes a used one that long after its last connection ends). After it the connection is not reused, and renew answers 409 connection_may_be_idle unless it names a later usedAt (which moves this time to usedAt + the window)',
    }),
    expiresAt: z.iso.datetime().register(z.globalRegistry, { description: 'remote.it\'s own expiry of the proxy' }),
    stoppedAt: z.optional(isoTime),
    stopReason: z.optional(z.string()),
    failureReason: z.optional(z.string()),
    remoteConnectionId: z.optional(z.string()),
  })
  .register(z.globalRegistry, { id: 'Connection' });
export type ConnectionView = z.infer<typeof connectionViewSchema>;

export const connectionPageSchema = z
  .object({ items: z.array(connectionViewSchema), nextCursor: z.optional(z.string()) })
  .register(z.globalRegistry, { id: 'ConnectionPage' });

export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().check(z.int()),
    detail: z.string(),
    instance: z.optional(z.string()),
    errors: z.optional(z.array(z.object({ field: z.string(), message: z.string() }))),
  })
  .register(z.globalRegistry, { id: 'Problem', description: 'RFC 9457 problem details' });
export type Problem = z.infer<typeof problemSchema>;

/** GET /me: the caller as the broker sees it, and only the policy rules that name it. */
export const callerViewSchema = z
  .object({
    principal: z.string().register(z.globalRegistry, {
      description: 'the ARN the policy matches and connections are owned by: an assumed-role session counts as its role (arn:aws:iam::ACCOUNT:role/NAME)',
    }),
    arn: z.string().register(z.globalRegistry, { description: 'the caller\'s full ARN as API Gateway\'s IAM authorizer resolved it' }),
    admin: z.boolean().register(z.globalRegistry, { description: 'whether the policy\'s `admins` name the caller (false while no policy is loaded)' }),
    rules: z
      .array(
        z.object({
          services: z.array(z.string()).register(z.globalRegistry, { description: 'service id globs, case-insensitive' }),
          modes: z.array(z.enum(CONNECTION_MODES)),
          maxTtlSeconds: z.number().check(z.int()),
          maxActive: z.number().check(z.int()),
          opensPerMinute: z.number().check(z.int()).register(z.globalRegistry, {
            description: 'the most new connections the caller may open per clock minute under this rule (reused and refused opens are not counted)',
          }),
          maxLifetimeSeconds: z.optional(z.number().check(z.int())).register(z.globalRegistry, {
            description: 'how long a connection may live across renews, from its open; absent: up to remote.it\'s own expiry',
          }),
          clientCidrs: z.optional(z.array(z.string())).register(z.globalRegistry, {
            description: 'the addresses a mode ip proxy may be granted to; absent: any the API accepts',
          }),
        }),
      )
      .register(z.globalRegistry, {
        description:
          'the policy rules whose principals match the caller, in the policy\'s order (their principal globs and every other rule are not shown); empty while no policy is loaded',
      }),
    live: z.number().check(z.int()).register(z.globalRegistry, {
      description: 'the caller\'s live (pending, active, stopping) connections not past remote.it\'s expiry: those its maxActive quota holds slots for (a connection past that expiry holds its slot until the broker ends it)',
    }),
  })
  .register(z.globalRegistry, { id: 'Caller' });
export type CallerView = z.infer<typeof callerViewSchema>;
