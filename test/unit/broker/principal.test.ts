import { toCaller } from '../../../lambdas/broker/principal';

describe('principal', () => {
  describe('toCaller', () => {
    it.each([
      ['aws', 'arn:aws:sts::123456789012:assumed-role/app/session-1', 'arn:aws:iam::123456789012:role/app'],
      ['aws-cn', 'arn:aws-cn:sts::123456789012:assumed-role/app/i-0abc', 'arn:aws-cn:iam::123456789012:role/app'],
      ['aws-us-gov', 'arn:aws-us-gov:sts::123456789012:assumed-role/App.Role/alice@example.com', 'arn:aws-us-gov:iam::123456789012:role/App.Role'],
    ])('normalises an assumed-role session to its role ARN when the partition is %s', (_partition, arn, role) => {
      const caller = toCaller({ arn, sourceIp: '81.2.69.160' });

      expect(caller).toEqual({ principal: role, arn, sourceIp: '81.2.69.160' });
    });

    it.each([
      ['an IAM user', 'arn:aws:iam::123456789012:user/deploy'],
      ['an IAM role', 'arn:aws:iam::123456789012:role/app'],
      ['a federated user', 'arn:aws:sts::123456789012:federated-user/bob'],
      ['an assumed-role ARN without a session', 'arn:aws:sts::123456789012:assumed-role/app'],
      ['an unknown partition', 'arn:aws-xx:sts::123456789012:assumed-role/app/session'],
    ])('keeps the ARN as the principal when the caller is %s', (_kind, arn) => {
      const caller = toCaller({ arn, sourceIp: '81.2.69.160' });

      expect(caller.principal).toBe(arn);
      expect(caller.arn).toBe(arn);
    });

    it('throws when the ARN is empty', () => {
      expect(() => toCaller({ arn: '', sourceIp: '81.2.69.160' })).toThrow(/no caller ARN/);
    });
  });
});
