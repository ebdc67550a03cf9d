import {
  InvalidRequestError,
  PolicyDeniedError,
  UpstreamRefusedError,
  UpstreamUnavailableError,
} from '../../../lambdas/broker/errors';

describe('broker errors', () => {
  describe('InvalidRequestError', () => {
    it('names every bad field in its message and errors when several are wrong', () => {
      const error = new InvalidRequestError([
        { field: 'serviceId', message: 'is not an address' },
        { field: 'clientIp', message: 'must be public' },
      ]);

      expect(error.code).toBe('invalid_request');
      expect(error.name).toBe('InvalidRequestError');
      expect(error.errors.map((fieldError) => fieldError.field)).toEqual(['serviceId', 'clientIp']);
      expect(error.message).toBe('invalid request: serviceId is not an address; clientIp must be public');
    });
  });

  describe('PolicyDeniedError', () => {
    it('keeps the denial reason and the detail when constructed', () => {
      const error = new PolicyDeniedError('mode_not_allowed', "your policy does not allow mode 'public'");

      expect(error).toMatchObject({ code: 'policy_denied', reason: 'mode_not_allowed', message: "your policy does not allow mode 'public'" });
    });
  });

  describe('UpstreamRefusedError', () => {
    it("shows remote.it's reason when constructed", () => {
      expect(new UpstreamRefusedError('[0912] device offline').message).toContain('[0912] device offline');
    });
  });

  describe('UpstreamUnavailableError', () => {
    it('keeps internals out of the message and in cause when given a cause', () => {
      const cause = new Error('remote.it answered HTTP 503 from 10.0.0.7');

      const error = new UpstreamUnavailableError({ cause, retryAfterSeconds: 7 });

      expect(error.message).toBe('remote.it is unavailable; try again later');
      expect(error.cause).toBe(cause);
      expect(error.retryAfterSeconds).toBe(7);
      expect(error.code).toBe('upstream_unavailable');
    });
  });
});
