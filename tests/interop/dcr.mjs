// A partner's software registering its own client with openid-client's dynamic
// client registration (RFC 7591), using a software statement downloaded from
// Gatehouse's directory, then obtaining a token with the credentials it was issued.
//
// Driven by tests/tests/registration.rs: GATEHOUSE_ISSUER and GATEHOUSE_SSA come
// from the environment; prints {"result": {...}} or fails.

import * as client from 'openid-client';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

async function main() {
  const issuer = new URL(env('GATEHOUSE_ISSUER'));
  const registered = await client.dynamicClientRegistration(
    issuer,
    {
      software_statement: env('GATEHOUSE_SSA'),
      scope: 'accounts',
      grant_types: ['client_credentials'],
    },
    undefined,
    { algorithm: 'oauth2', execute: [client.allowInsecureRequests] },
  );
  const metadata = registered.clientMetadata();
  // The statement says how the client authenticates: client_secret_basic here.
  const config = new client.Configuration(
    registered.serverMetadata(),
    metadata.client_id,
    metadata,
    client.ClientSecretBasic(metadata.client_secret),
  );
  client.allowInsecureRequests(config);
  const token = await client.clientCredentialsGrant(config, { scope: 'accounts' });
  process.stdout.write(`${JSON.stringify({
    result: {
      client_id: metadata.client_id,
      client_secret: metadata.client_secret,
      token_endpoint_auth_method: metadata.token_endpoint_auth_method,
      scope: metadata.scope,
      software_id: metadata.software_id,
      registration_client_uri: metadata.registration_client_uri,
      registration_access_token: metadata.registration_access_token,
      token_type: token.token_type,
      access_token: token.access_token,
    },
  })}\n`);
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
