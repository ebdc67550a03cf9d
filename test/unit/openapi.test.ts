import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { OPENAPI_PATH, renderOpenApi } from '../../dev/openapi';
import { problemTypeOf } from '../../lambdas/handlers/http/problem';

interface Example {
  value?: unknown;
  $ref?: string;
}
interface MediaType {
  schema?: { $ref?: string };
  example?: unknown;
  examples?: Record<string, Example>;
}
interface Operation {
  responses: Record<string, { content?: Record<string, MediaType> }>;
}
interface Document {
  servers?: { url: string; variables?: Record<string, { default: string }> }[];
  paths: Record<string, Record<string, Operation>>;
  components: {
    examples?: Record<string, Example>;
    securitySchemes: Record<string, Record<string, unknown>>;
    schemas: Record<string, { properties?: Record<string, Record<string, unknown> & { properties?: Record<string, Record<string, unknown>> }> }>;
  };
}

const PROBLEM_PREFIX = 'urn:remoteit-broker:problem:';
const documented = () => parse(renderOpenApi()) as Document;

/** An example's value, following a `$ref` into `components.examples` (undefined when it leads nowhere). */
function valueOf(document: Document, example: Example): unknown {
  if (example.$ref === undefined) return example.value;
  const name = /^#\/components\/examples\/([^/]+)$/.exec(example.$ref)?.[1];
  return name === undefined ? undefined : document.components.examples?.[name]?.value;
}

/** `METHOD path status media-type` for every response of every operation, with what it shows as examples. */
function responsesOf(document: Document) {
  return Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.entries(methods).flatMap(([method, operation]) =>
      Object.entries(operation.responses).flatMap(([status, response]) =>
        Object.entries(response.content ?? { none: {} }).map(([mediaType, media]) => ({
          where: `${method.toUpperCase()} ${path} ${status} ${mediaType}`,
          status: Number(status),
          mediaType,
          values: [...(media.example === undefined ? [] : [media.example]), ...Object.values(media.examples ?? {}).map((example) => valueOf(document, example))],
        })),
      ),
    ),
  );
}

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
      'POST /connections 200,201,400,403,404,409,413,422,429,500,502,503,504',
      'GET /connections 200,400,403,500,503',
      'GET /connections/{id} 200,400,403,404,500,503',
      'DELETE /connections/{id} 200,202,400,403,404,409,500,502,503',
      'POST /connections/{id}/renew 200,400,403,404,409,413,500,502,503,504',
      'POST /locks 201,400,403,409,413,500,503',
      'GET /locks 200,403,500,503',
      'DELETE /locks/{id} 200,400,403,404,500,503',
      'GET /me 200,403,500,503',
    ]);
  });

  it('rejects unknown request fields in the published schema', () => {
    const document = parse(renderOpenApi()) as { components: { schemas: Record<string, { additionalProperties?: boolean; required?: string[] }> } };

    expect(document.components.schemas.OpenConnectionRequest).toMatchObject({ additionalProperties: false, required: ['serviceId'] });
    expect(document.components.schemas.PlaceLockRequest).toMatchObject({ additionalProperties: false, required: ['reason'] });
  });

  it('shows an example for every response of every operation', () => {
    const withoutExample = responsesOf(documented())
      .filter(({ values }) => values.length === 0 || values.some((value) => value === undefined))
      .map(({ where }) => where);

    expect(withoutExample).toEqual([]);
  });

  it('gives problem examples the status of their response and a problem type the API answers', () => {
    const document = documented();
    const types = document.components.schemas.Problem?.properties?.type?.examples as string[];
    const problems = responsesOf(document).filter(({ mediaType }) => mediaType === 'application/problem+json');

    const wrong = problems.flatMap(({ where, status, values }) =>
      (values as { type: string; status: number; title: string }[])
        .filter((value) => value.status !== status || !types.includes(value.type))
        .map((value) => `${where}: ${value.type} ${value.status}`),
    );

    expect(problems.length).toBeGreaterThan(30);
    expect(wrong).toEqual([]);
  });

  it('enumerates every problem type, each one the broker maps to its own status', () => {
    const types = documented().components.schemas.Problem?.properties?.type?.examples as string[];

    const unknown = types
      .map((type) => type.slice(PROBLEM_PREFIX.length))
      .filter((code) => code !== 'internal' && problemTypeOf(Object.assign(new Error(code), { code })).code !== code);

    expect(types.every((type) => type.startsWith(PROBLEM_PREFIX))).toBe(true);
    expect(types).toEqual(expect.arrayContaining([`${PROBLEM_PREFIX}policy_denied`, `${PROBLEM_PREFIX}quota_exceeded`, `${PROBLEM_PREFIX}upstream_unavailable`, `${PROBLEM_PREFIX}internal`]));
    expect(unknown).toEqual([]);
  });

  it('marks the SigV4 scheme as API Gateway\'s IAM authorization and names the servers to sign for', () => {
    const document = documented();

    expect(document.components.securitySchemes.sigv4).toMatchObject({ type: 'apiKey', name: 'Authorization', in: 'header', 'x-amazon-apigateway-authtype': 'awsSigv4' });
    expect(document.servers).toEqual([
      expect.objectContaining({ url: 'https://{apiId}.execute-api.{region}.amazonaws.com', variables: expect.objectContaining({ apiId: expect.anything(), region: expect.anything() }) }),
      expect.objectContaining({ url: 'http://127.0.0.1:{port}', variables: { port: expect.objectContaining({ default: '4000' }) } }),
    ]);
  });

  it('bounds the proxy port to TCP\'s 1..65535', () => {
    const proxy = documented().components.schemas.Connection?.properties?.proxy;

    expect(proxy?.properties?.port).toMatchObject({ type: 'integer', minimum: 1, maximum: 65535 });
  });
});
