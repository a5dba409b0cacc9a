// A token only: client credentials with private_key_jwt and DPoP for
// GATEHOUSE_SCOPE (default reference). It works against the production issuer as
// well as the sandbox's (production assertions are addressed to the issuer alone,
// as openid-client does by default):
//   GATEHOUSE_ISSUER=https://…/production GATEHOUSE_SCOPE=accounts node examples/token.mjs
import { appToken, connect, run } from './common.mjs';

run(async () => {
  const ctx = await connect();
  const token = await appToken(ctx, process.env.GATEHOUSE_SCOPE ?? 'reference');
  return { token_type: token.token_type, scope: token.scope, expires_in: token.expires_in };
});
