/**
 * Who is calling. API Gateway's IAM authorizer gives the caller's ARN; for an assumed role that is the
 * session ARN (`arn:aws:sts::ACCT:assumed-role/ROLE/SESSION`), whose session name the caller chooses. Policy
 * matching and ownership therefore use the role ARN, and the full ARN is kept only for audit.
 */

export interface Caller {
  /** The ARN policy rules match and connections are owned by: assumed-role sessions become their role ARN. */
  principal: string;
  /** The caller's full ARN as the authorizer gave it (audit). */
  arn: string;
  /** The caller's source address as API Gateway saw it. */
  sourceIp: string;
}

// An STS assumed-role ARN drops the role's IAM path, so the normalised ARN has none either: policies name
// such roles as `arn:aws:iam::ACCT:role/NAME`, without the path.
const ASSUMED_ROLE_ARN = /^arn:(aws|aws-cn|aws-us-gov):sts::(\d{12}):assumed-role\/([^/]+)\/[^/]+$/;

export function toCaller(identity: { arn: string; sourceIp: string }): Caller {
  if (!identity.arn) {
    // Every route sits behind the IAM authorizer; an empty ARN means the gateway is misconfigured.
    throw new TypeError('the request carries no caller ARN');
  }
  const match = ASSUMED_ROLE_ARN.exec(identity.arn);
  const principal = match ? `arn:${match[1]}:iam::${match[2]}:role/${match[3]}` : identity.arn;
  return { principal, arn: identity.arn, sourceIp: identity.sourceIp };
}
