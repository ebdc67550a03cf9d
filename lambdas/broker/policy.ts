/**
 * Who may open what. The document comes from the deployment (CDK prop -> `BROKER_POLICY` env) and is
 * validated at cold start. Deny by default: a caller no rule matches may open nothing.
 */
import { z } from 'zod';
import { CONNECTION_MODES } from './model';

export const policyRuleSchema = z
  .object({
    /** IAM principal ARN globs (`*` matches any run of characters). Assumed-role sessions match as their role ARN. */
    principals: z.array(z.string().min(1)).min(1),
    /** serviceId globs, case-insensitive, e.g. `80:00:00:00:01:*`. */
    services: z.array(z.string().min(1)).min(1),
    /** Modes this rule allows. */
    modes: z.array(z.enum(CONNECTION_MODES)).min(1).default(['latching', 'ip']),
    /** Longest lease this rule grants, seconds. */
    maxTtlSeconds: z.number().int().min(60).max(86_400).default(3600),
    /** Most live (pending, active, stopping) connections a principal matched by this rule may hold. */
    maxActive: z.number().int().min(1).default(10),
  })
  .strict();

export const policyDocumentSchema = z
  .object({
    rules: z.array(policyRuleSchema).default([]),
    /** Principal ARN globs that see and stop every connection. Admins open connections under the rules like anyone. */
    admins: z.array(z.string().min(1)).default([]),
  })
  .strict();

export type PolicyRule = z.infer<typeof policyRuleSchema>;
export type PolicyDocument = z.infer<typeof policyDocumentSchema>;
