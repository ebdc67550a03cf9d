import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { OPENAPI_PATH, renderOpenApi } from '../../dev/openapi';

describe('docs/openapi.yaml', () => {
  it('matches what the zod schemas generate when regenerated (run `npm run openapi` after changing them)', () => {
    expect(readFileSync(OPENAPI_PATH, 'utf8')).toBe(renderOpenApi());
  });

  it('describes every route of the API with its success and error statuses', () => {
    const document = parse(renderOpenApi()) as { paths: Record<string, Record<string, { responses: object }>> };

    const operations = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, operation]) => `${method.toUpperCase()} ${path} ${Object.keys(operation.responses).sort().join(',')}`),
    );

    expect(operations).toEqual([
      'POST /connections 200,201,400,403,404,409,422,429,500,502,503,504',
      'GET /connections 200,400,403,500,503',
      'GET /connections/{id} 200,400,403,404,500,503',
      'DELETE /connections/{id} 200,202,400,403,404,409,500,502,503',
      'POST /connections/{id}/renew 200,400,403,404,409,500,502,503,504',
      'POST /locks 201,400,403,409,500,503',
      'GET /locks 200,403,500,503',
      'DELETE /locks/{id} 200,400,403,404,500,503',
    ]);
  });

  it('rejects unknown request fields in the published schema', () => {
    const document = parse(renderOpenApi()) as { components: { schemas: Record<string, { additionalProperties?: boolean; required?: string[] }> } };

    expect(document.components.schemas.OpenConnectionRequest).toMatchObject({ additionalProperties: false, required: ['serviceId'] });
    expect(document.components.schemas.PlaceLockRequest).toMatchObject({ additionalProperties: false, required: ['reason'] });
  });
});
