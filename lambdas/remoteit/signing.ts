/**
 * remote.it access-key request signing, both schemes of docs/remoteit-api.md. The
 * `http-message-signatures` package builds both signature bases; it reproduces remote.it's two test
 * vectors byte for byte (test/unit/remoteit/signing.test.ts), so nothing here is hand-rolled crypto:
 * this module only fixes which components are covered and how remote.it wants the headers named.
 */
// Each part from its own module: the package's index (CommonJS, so esbuild cannot drop what is unused) would
// bundle every other part too, 1 KiB of the open function's 200 KiB budget.
import { createHmac } from 'node:crypto';
import * as cavage from 'http-message-signatures/lib/cavage';
import * as httpbis from 'http-message-signatures/lib/httpbis';
import type { Request as SignableMessage, SigningKey } from 'http-message-signatures/lib/types';

export type SignatureScheme = 'cavage' | 'rfc9421';

export interface AccessKey {
  accessKeyId: string;
  /** Base64, as remote.it issues it; the HMAC key is the DECODED bytes. */
  secretAccessKey: string;
}

export interface RequestToSign {
  method: string;
  /** Absolute URL actually called: its host (with a non-default port) is what gets signed. */
  url: string;
  /** Sent as the Date header and signed. */
  date: Date;
  /** Scheme B's `created`; defaults to `date` (they differ only in remote.it's test vector). */
  created?: Date;
  /** JSON text of the body; '' when none. */
  body: string;
}

/**
 * The package's signer for `hmac-sha256`, as its `createSigner` builds it (Node's HMAC over the signature
 * base). Not `createSigner` itself: its module also carries the RSA, ECDSA and Ed25519 signers and verifiers
 * the broker never uses, 2 KiB of the open function's budget. The test vectors pin the result.
 */
function hmacSha256Signer(secret: Buffer, keyId: string): SigningKey {
  return { id: keyId, alg: 'hmac-sha256', sign: async (data) => createHmac('sha256', secret).update(data).digest() };
}

/** remote.it's clients give a scheme-B signature five minutes. */
const RFC9421_LIFETIME_SECONDS = 300;
const CAVAGE_COVERED = ['@request-target', 'host', 'date', 'content-type', 'content-length'];
const RFC9421_COVERED = ['@method', '@authority', '@target-uri', 'date'];

/**
 * The headers to send with `request` (Date, Content-Type, Content-Length and the signature headers).
 * The caller adds `developerkey`; Host comes from the URL, exactly as fetch will send it.
 */
export async function signRequest(
  scheme: SignatureScheme,
  key: AccessKey,
  request: RequestToSign,
): Promise<Record<string, string>> {
  const signer = hmacSha256Signer(Buffer.from(key.secretAccessKey, 'base64'), key.accessKeyId);
  const date = request.date.toUTCString();
  const method = request.method.toUpperCase();

  if (scheme === 'cavage') {
    const headers = {
      host: new URL(request.url).host,
      date,
      'content-type': 'application/json',
      // Byte length, not string length: a non-ASCII body would otherwise fail verification.
      'content-length': String(Buffer.byteLength(request.body, 'utf8')),
    };
    const message: SignableMessage = { method, url: request.url, headers };
    const signed = await cavage.signMessage({ key: signer, fields: CAVAGE_COVERED, params: ['keyid', 'alg'] }, message);
    // The library emits the parameter list as a `Signature` header; remote.it expects it in Authorization.
    const parameters = signed.headers.Signature;
    if (typeof parameters !== 'string') throw new Error('http-message-signatures produced no Signature header');
    return {
      date: headers.date,
      'content-type': headers['content-type'],
      'content-length': headers['content-length'],
      authorization: `Signature ${parameters}`,
    };
  }

  const created = new Date(Math.floor((request.created ?? request.date).getTime() / 1000) * 1000);
  const message: SignableMessage = { method, url: request.url, headers: { date } };
  const signed = await httpbis.signMessage(
    {
      key: signer,
      name: 'remoteit',
      fields: RFC9421_COVERED,
      params: ['keyid', 'alg', 'created', 'expires'],
      paramValues: { created, expires: new Date(created.getTime() + RFC9421_LIFETIME_SECONDS * 1000) },
    },
    message,
  );
  const signature = signed.headers.Signature;
  const signatureInput = signed.headers['Signature-Input'];
  if (typeof signature !== 'string' || typeof signatureInput !== 'string') {
    throw new Error('http-message-signatures produced no Signature/Signature-Input header');
  }
  return {
    date,
    'content-type': 'application/json',
    signature,
    'signature-input': signatureInput,
  };
}
