// A partner's integration written with openid-client (node), a widely used OAuth
// client library, with its defaults: discovery (RFC 8414), private_key_jwt client
// authentication, DPoP (RFC 9449), client credentials, a consent created at the
// sandbox API, authorization code with PKCE and PAR (RFC 9126), refresh,
// introspection (RFC 7662) and revocation (RFC 7009).
//
// Driven by tests/tests/interop.rs: configuration comes from the environment; the
// script prints one JSON line {"authorize": url}, reads the callback URL (after the
// test customer approved) from stdin, then prints {"result": {...}} or {"error": ...}.

import * as client from 'openid-client';
import { createInterface } from 'node:readline';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const say = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);

async function main() {
  const issuer = new URL(env('GATEHOUSE_ISSUER'));
  const apiBase = env('GATEHOUSE_API');
  const redirectUri = env('GATEHOUSE_REDIRECT_URI');
  const jwk = JSON.parse(env('GATEHOUSE_PRIVATE_JWK'));
  const key = await crypto.subtle.importKey(
    'jwk',
    jwk,
    { name: 'ECDSA', namedCurve: 'P-256' },
    false,
    ['sign'],
  );
  const config = await client.discovery(
    issuer,
    env('GATEHOUSE_CLIENT_ID'),
    { token_endpoint_auth_method: 'private_key_jwt' },
    client.PrivateKeyJwt({ key, kid: jwk.kid }),
    { algorithm: 'oauth2', execute: [client.allowInsecureRequests] },
  );
  const metadata = config.serverMetadata();
  const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
  const result = { issuer: metadata.issuer };

  // Client credentials, DPoP-bound.
  const cc = await client.clientCredentialsGrant(config, { scope: 'accounts' }, { DPoP });
  result.client_credentials_token_type = cc.token_type;

  // An account-access consent at the sandbox API, with the DPoP-bound token.
  const consent = await client.fetchProtectedResource(
    config,
    cc.access_token,
    new URL(`${apiBase}/aisp/account-access-consents`),
    'POST',
    JSON.stringify({
      Data: { Permissions: ['ReadAccountsDetail', 'ReadBalances'] },
      Risk: {},
    }),
    new Headers({ 'content-type': 'application/json', accept: 'application/json' }),
    { DPoP },
  );
  result.consent_status = consent.status;
  const intent = (await consent.json()).Data.ConsentId;

  // Authorization code with PKCE, pushed (PAR).
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = await client.buildAuthorizationUrlWithPAR(
    config,
    {
      redirect_uri: redirectUri,
      scope: 'accounts',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      openbanking_intent_id: intent,
    },
    { DPoP },
  );
  say({ authorize: url.href });
  const lines = createInterface({ input: process.stdin });
  const callback = await new Promise((resolve) => lines.once('line', resolve));
  lines.close();

  const tokens = await client.authorizationCodeGrant(
    config,
    new URL(callback),
    { pkceCodeVerifier: verifier, expectedState: state },
    undefined,
    { DPoP },
  );
  result.code_token_type = tokens.token_type;
  result.has_refresh_token = typeof tokens.refresh_token === 'string';

  const accounts = await client.fetchProtectedResource(
    config,
    tokens.access_token,
    new URL(`${apiBase}/aisp/accounts`),
    'GET',
    undefined,
    undefined,
    { DPoP },
  );
  result.accounts_status = accounts.status;
  result.accounts = (await accounts.json()).Data.Account.length;

  // Refresh, then introspect the new access token.
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, {
    DPoP,
  });
  result.refreshed = refreshed.access_token !== tokens.access_token;
  const introspected = await client.tokenIntrospection(config, refreshed.access_token);
  result.introspection_active = introspected.active;
  result.introspection_client_id = introspected.client_id;

  // Revoke the refresh token: it and what descends from it stop.
  await client.tokenRevocation(config, refreshed.refresh_token ?? tokens.refresh_token);
  const after = await client.tokenIntrospection(
    config,
    refreshed.refresh_token ?? tokens.refresh_token,
  );
  result.revoked_refresh_active = after.active;
  try {
    await client.refreshTokenGrant(config, refreshed.refresh_token ?? tokens.refresh_token, undefined, {
      DPoP,
    });
    result.refresh_after_revocation = 'accepted';
  } catch (err) {
    result.refresh_after_revocation = err.error ?? String(err);
  }
  say({ result });
}

main().catch((err) => {
  say({ error: String(err?.stack ?? err), cause: err?.cause ? String(JSON.stringify(err.cause)) : undefined });
  process.exit(1);
});
