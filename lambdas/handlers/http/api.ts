/**
 * One way every API function answers: dispatch on API Gateway's `routeKey` (API Gateway already matched the
 * route, so there is no router to write), map thrown errors to problem+json, log 5xx causes and count them
 * (`ApiFaults`: the broker's own; `ApiUpstreamFailures`: remote.it's, which callers can cause), flush metrics.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { errorResponse, isBrokerFault, problemTypeOf } from './problem';
import type { ApiEvent } from './request';

export type RouteHandler = (event: ApiEvent, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

export class RouteNotFoundError extends Error {
  readonly code = 'route_not_found';
  constructor(routeKey: string) {
    super(`no route ${routeKey}`);
    this.name = 'RouteNotFoundError';
  }
}

export function apiHandler(
  routes: Record<string, RouteHandler>,
  observability: { logger: Logger; metrics: Metrics },
) {
  const { logger, metrics } = observability;
  return async (event: ApiEvent, context: Context): Promise<APIGatewayProxyStructuredResultV2> => {
    logger.addContext(context);
    logger.setCorrelationId(event.requestContext.requestId);
    try {
      const route = routes[event.routeKey];
      if (!route) throw new RouteNotFoundError(event.routeKey);
      const response = await route(event, context);
      logger.info('answered', { routeKey: event.routeKey, status: response.statusCode });
      return response;
    } catch (error) {
      const { status, code } = problemTypeOf(error);
      if (status >= 500) {
        logger.error('request failed', { routeKey: event.routeKey, status, code, error });
        metrics.addMetric(isBrokerFault(status, code) ? 'ApiFaults' : 'ApiUpstreamFailures', MetricUnit.Count, 1);
      } else {
        logger.info('request rejected', { routeKey: event.routeKey, status, code });
      }
      return errorResponse(error, event.requestContext.requestId);
    } finally {
      // Reads record no metric; publishing nothing would log Powertools' "no metrics" warning every call.
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
      logger.resetKeys();
    }
  };
}
