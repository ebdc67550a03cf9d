/**
 * The published client (client/) writes the API's shapes out as plain TypeScript, so that it imports nothing
 * from lambdas/ or dev/. This test holds them to what the API validates and answers: a type that drifts from
 * the zod schema's is a compile error here (`npm run typecheck`, part of `npm test`), and the lists and the
 * stack file, which exist at run time, are compared at run time.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { z } from 'zod';
import { CONNECTION_MODES as API_MODES, CONNECTION_STATUSES as API_STATUSES } from '../../../lambdas/broker/model';
import type { CallerView, ConnectionView, connectionPageSchema, Problem } from '../../../lambdas/handlers/http/responses';
import type { openConnectionRequestSchema, renewConnectionRequestSchema } from '../../../lambdas/handlers/http/schemas';
import type { LockListView, LockView, PlacedLockView } from '../../../lambdas/handlers/http/lock-responses';
import type { placeLockRequestSchema } from '../../../lambdas/handlers/http/lock-schemas';
import { generateIdentity } from '../../../dev/identities';
import type { StackFile } from '../../../dev/stack';
import { readStackFile, type LocalStack } from '../../../client/local-stack';
import {
  CONNECTION_MODES,
  CONNECTION_STATUSES,
  type Caller,
  type Connection,
  type ConnectionPage,
  type FieldProblem,
  type Lock,
  type LockList,
  type OpenConnectionInput,
  type PlaceLockInput,
  type PlacedLock,
  type ProblemDetails,
  type RenewConnectionInput,
} from '../../../client/types';

/** Each assignable to the other. */
type Assignable<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** Every property required, recursively: two shapes compare equal only with the same keys at every level. */
type Keys<T> = T extends readonly (infer E)[] ? Keys<E>[] : T extends object ? { [K in keyof T]-?: Keys<T[K]> } : T;
/** Same values, same optional properties, same keys (an optional field one side lacks is a drift too). */
type Same<A, B> = Assignable<A, B> extends true ? Assignable<Keys<A>, Keys<B>> : false;

// A `false` here (a type error) names the shape that drifted.
const contract: Record<string, true> = {
  Connection: true satisfies Same<Connection, ConnectionView>,
  ConnectionPage: true satisfies Same<ConnectionPage, z.output<typeof connectionPageSchema>>,
  OpenConnectionInput: true satisfies Same<OpenConnectionInput, z.input<typeof openConnectionRequestSchema>>,
  RenewConnectionInput: true satisfies Same<RenewConnectionInput, z.input<typeof renewConnectionRequestSchema>>,
  Lock: true satisfies Same<Lock, LockView>,
  PlacedLock: true satisfies Same<PlacedLock, PlacedLockView>,
  LockList: true satisfies Same<LockList, LockListView>,
  PlaceLockInput: true satisfies Same<PlaceLockInput, z.input<typeof placeLockRequestSchema>>,
  ProblemDetails: true satisfies Same<ProblemDetails, Problem>,
  FieldProblem: true satisfies Same<FieldProblem, NonNullable<Problem['errors']>[number]>,
  Caller: true satisfies Same<Caller, CallerView>,
  LocalStack: true satisfies Same<LocalStack, Pick<StackFile, 'apiUrl' | 'region' | 'identities'>>,
};

describe('the client package\'s own types and lists', () => {
  it('match the API\'s schemas (checked by the compiler: this file does not type-check when they drift)', () => {
    expect(Object.values(contract).every(Boolean)).toBe(true);
  });

  it('offers the modes and statuses the API validates, in the same order', () => {
    expect([...CONNECTION_MODES]).toEqual([...API_MODES]);
    expect([...CONNECTION_STATUSES]).toEqual([...API_STATUSES]);
  });

  it('reads a stack file of the shape dev/stack.ts writes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rbroker-contract-'));
    try {
      const file: StackFile = {
        apiUrl: 'http://127.0.0.1:4000',
        region: 'eu-central-1',
        emulatorUrl: null,
        dynamoDbEndpoint: 'http://127.0.0.1:8000',
        identities: [generateIdentity({ name: 'app', admin: false }), generateIdentity({ name: 'admin', admin: true })],
        services: [{ serviceId: '80:00:00:00:00:00:00:01', name: 'echo', kind: 'tcp', target: '127.0.0.1:7000' }],
      };
      const path = join(dir, 'stack.json');
      await writeFile(path, `${JSON.stringify(file, null, 2)}\n`);
      await expect(readStackFile(path)).resolves.toEqual({ apiUrl: file.apiUrl, region: file.region, identities: file.identities });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
