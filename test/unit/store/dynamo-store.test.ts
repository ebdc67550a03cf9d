import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { encodeCursor } from '../../../lambdas/store/codec';
import { createDynamoConnectionStore } from '../../../lambdas/store/dynamo-store';
import { InvalidCursorError } from '../../../lambdas/store/errors';

// DynamoDB Local accepts start keys real DynamoDB refuses (e.g. a sort key over 1024 bytes), so the
// mapping of DynamoDB's refusal is pinned here, on the SDK boundary.
const documents = mockClient(DynamoDBDocumentClient);
const OWNER = 'arn:aws:iam::123456789012:role/app';

function validationException(): Error {
  return Object.assign(new Error('The provided starting key is invalid'), { name: 'ValidationException' });
}

describe('DynamoConnectionStore', () => {
  const store = createDynamoConnectionStore({
    client: DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' })),
    tableName: 'connections',
    dueShardCount: 4,
  });

  beforeEach(() => {
    documents.reset();
  });

  describe('list', () => {
    it('answers InvalidCursorError when DynamoDB refuses the start key a caller\'s cursor decoded to', async () => {
      documents.on(QueryCommand).rejects(validationException());
      const cursor = encodeCursor({ index: 'by-owner', key: { owner: OWNER, createdAt: 'é'.repeat(520), id: '01ARZ3NDEKTSV4RRFFQ69G5FAV' } });

      await expect(store.list({ owner: OWNER, limit: 1, cursor })).rejects.toBeInstanceOf(InvalidCursorError);
      expect(documents).toHaveReceivedCommandWith(QueryCommand, { IndexName: 'by-owner', ScanIndexForward: false });
    });

    it('lets a ValidationException through when no cursor was given (a broker bug, not the caller\'s)', async () => {
      documents.on(QueryCommand).rejects(validationException());

      await expect(store.list({ owner: OWNER, limit: 1 })).rejects.toMatchObject({ name: 'ValidationException' });
    });
  });
});
