// What every example shares: the configuration from the environment, discovery
// (RFC 8414) with private_key_jwt client authentication (RFC 7523) by the key whose
// public half you registered (as PEM on the app's page), a DPoP key (RFC 9449) so
// every token is bound to this process, calls to the sandbox API, and the customer's
// authorisation by PAR (RFC 9126) with PKCE.
//
// Set:
//   GATEHOUSE_ISSUER       the issuer, as the docs page shows it (e.g. http://127.0.0.1:3000)
//   GATEHOUSE_API          the sandbox API base (the docs page's "API" line; not for token.mjs)
//   GATEHOUSE_CLIENT_ID    your sandbox app's client id
//   GATEHOUSE_PRIVATE_KEY  the path of your P-256 private key, PKCS #8 PEM
//                          (openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out private.pem)
//   GATEHOUSE_REDIRECT_URI one of the app's redirect URIs (the flows with a customer)

import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import * as client from 'openid-client';

export const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (see the top of common.mjs)`);
  return value;
};

export const say = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);

/** The private key of a PKCS #8 PEM file, for signing client assertions. */
async function privateKey(path) {
  const pem = readFileSync(path, 'utf8');
  const body = pem.replace(/-----(BEGIN|END) PRIVATE KEY-----/g, '').replace(/\s+/g, '');
  return crypto.subtle.importKey(
    'pkcs8',
    Buffer.from(body, 'base64'),
    { name: 'ECDSA', namedCurve: 'P-256' },
    false,
    ['sign'],
  );
}

/** Discovery, client authentication and a DPoP key. */
export async function connect() {
  const issuer = new URL(env('GATEHOUSE_ISSUER'));
  const key = await privateKey(env('GATEHOUSE_PRIVATE_KEY'));
  const config = await client.discovery(
    issuer,
    env('GATEHOUSE_CLIENT_ID'),
    { token_endpoint_auth_method: 'private_key_jwt' },
    // No kid: Gatehouse tries the app's registered keys (or pass the kid its page shows).
    client.PrivateKeyJwt(key),
    // Gatehouse publishes RFC 8414 metadata ("oauth2"); a local sandbox speaks http.
    {
      algorithm: 'oauth2',
      execute: issuer.protocol === 'http:' ? [client.allowInsecureRequests] : [],
    },
  );
  const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
  // The API base is needed by the examples that call it (not by token.mjs).
  return { client, config, DPoP, api: process.env.GATEHOUSE_API };
}

/** A client-credentials token for `scope`, bound to the DPoP key. */
export async function appToken(ctx, scope) {
  return client.clientCredentialsGrant(ctx.config, { scope }, { DPoP: ctx.DPoP });
}

/** Calls the sandbox API; the parsed JSON body and the status. */
export async function call(ctx, token, method, path, body, headers = {}) {
  const response = await client.fetchProtectedResource(
    ctx.config,
    token,
    new URL(`${ctx.api}${path}`),
    method,
    body === undefined ? undefined : JSON.stringify(body),
    new Headers({ accept: 'application/json', 'content-type': 'application/json', ...headers }),
    { DPoP: ctx.DPoP },
  );
  const json = await response.json();
  if (response.status >= 400) {
    throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
  }
  return json;
}

/**
 * The customer's authorisation of consent `intent` for `scope`: pushed (PAR) with
 * PKCE. Prints {"authorize": url} for the customer's browser, then reads the
 * address the browser came back to (your redirect URI with ?code=…) from standard
 * input, and exchanges the code for a DPoP-bound token.
 */
export async function customerToken(ctx, scope, intent) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = await client.buildAuthorizationUrlWithPAR(
    ctx.config,
    {
      redirect_uri: env('GATEHOUSE_REDIRECT_URI'),
      scope,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      openbanking_intent_id: intent,
    },
    { DPoP: ctx.DPoP },
  );
  say({ authorize: url.href });
  const lines = createInterface({ input: process.stdin });
  const back = await new Promise((resolve) => lines.once('line', resolve));
  lines.close();
  return client.authorizationCodeGrant(
    ctx.config,
    new URL(back),
    { pkceCodeVerifier: verifier, expectedState: state },
    undefined,
    { DPoP: ctx.DPoP },
  );
}

/** Runs `main`, printing {"result": …} or {"error": …}. */
export function run(main) {
  main()
    .then((result) => say({ result }))
    .catch((err) => {
      say({ error: String(err?.stack ?? err), cause: err?.cause ? JSON.stringify(err.cause) : undefined });
      process.exit(1);
    });
}
