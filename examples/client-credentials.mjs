// Client credentials with private_key_jwt and DPoP, then reference data:
//   node client-credentials.mjs
import { appToken, call, connect, run } from './common.mjs';

run(async () => {
  const ctx = await connect();
  const token = await appToken(ctx, 'reference');
  const branches = await call(ctx, token.access_token, 'GET', '/reference/branches');
  return { token_type: token.token_type, branches: branches.Data.Branch?.length ?? branches.Data.length };
});
