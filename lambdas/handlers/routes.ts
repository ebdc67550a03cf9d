/**
 * The API's routes and which function serves each, defined once: the handlers dispatch on these route
 * keys, the CDK construct creates exactly these routes, and the local gateway matches the same ones.
 */
export type ApiFunctionName = 'connections-read' | 'connections-open' | 'connections-write';

/** Every route's key, as API Gateway writes it (`METHOD /path`). */
export type ApiRouteKey =
  | 'POST /connections'
  | 'GET /connections'
  | 'GET /connections/{id}'
  | 'DELETE /connections/{id}'
  | 'POST /connections/{id}/renew'
  | 'POST /locks'
  | 'GET /locks'
  | 'DELETE /locks/{id}'
  | 'GET /me';

export interface ApiRoute {
  method: 'GET' | 'POST' | 'DELETE';
  /** API Gateway path template, e.g. `/connections/{id}`. */
  path: string;
  /** `${method} ${path}`: what API Gateway puts in the event's `routeKey`. */
  routeKey: ApiRouteKey;
  function: ApiFunctionName;
}

const route = (method: ApiRoute['method'], path: string, fn: ApiFunctionName): ApiRoute => ({
  method,
  path,
  routeKey: `${method} ${path}` as ApiRouteKey,
  function: fn,
});

export const API_ROUTES: readonly ApiRoute[] = [
  route('POST', '/connections', 'connections-open'),
  route('GET', '/connections', 'connections-read'),
  route('GET', '/connections/{id}', 'connections-read'),
  route('DELETE', '/connections/{id}', 'connections-write'),
  route('POST', '/connections/{id}/renew', 'connections-write'),
  route('POST', '/locks', 'connections-write'),
  route('GET', '/locks', 'connections-write'),
  route('DELETE', '/locks/{id}', 'connections-write'),
  route('GET', '/me', 'connections-read'),
];
