// A customer's accounts: an account-access consent with an app token, the
// customer's authorisation (PAR + PKCE), then the accounts and their balances:
//   node accounts.mjs      (open the printed address, sign in as a test customer,
//                           paste the address you are sent back to)
import { appToken, call, connect, customerToken, run } from './common.mjs';

run(async () => {
  const ctx = await connect();
  const app = await appToken(ctx, 'accounts');
  const consent = await call(ctx, app.access_token, 'POST', '/aisp/account-access-consents', {
    Data: { Permissions: ['ReadAccountsDetail', 'ReadBalances'] },
    Risk: {},
  });
  const customer = await customerToken(ctx, 'accounts', consent.Data.ConsentId);
  const accounts = await call(ctx, customer.access_token, 'GET', '/aisp/accounts');
  const first = accounts.Data.Account[0].AccountId;
  const balances = await call(ctx, customer.access_token, 'GET', `/aisp/accounts/${first}/balances`);
  return {
    token_type: customer.token_type,
    accounts: accounts.Data.Account.length,
    balances: balances.Data.Balance.length,
  };
});
