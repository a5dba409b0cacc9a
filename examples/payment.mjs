// A domestic payment: a payment consent with an app token and an idempotency key,
// the customer's authorisation (PAR + PKCE, the customer picks the account to pay
// from), then the payment with the same Initiation and a new idempotency key:
//   node payment.mjs
import { randomUUID } from 'node:crypto';
import { appToken, call, connect, customerToken, run } from './common.mjs';

const initiation = {
  InstructionIdentification: 'EXAMPLE-1',
  EndToEndIdentification: 'EXAMPLE-E2E-1',
  InstructedAmount: { Amount: '10.00', Currency: 'GBP' },
  CreditorAccount: {
    SchemeName: 'UK.OBIE.SortCodeAccountNumber',
    Identification: '20000012345678',
    Name: 'Example Payee Ltd',
  },
};

run(async () => {
  const ctx = await connect();
  const app = await appToken(ctx, 'payments');
  const consent = await call(
    ctx,
    app.access_token,
    'POST',
    '/pisp/domestic-payment-consents',
    { Data: { Initiation: initiation }, Risk: {} },
    { 'x-idempotency-key': randomUUID() },
  );
  const customer = await customerToken(ctx, 'payments', consent.Data.ConsentId);
  const payment = await call(
    ctx,
    customer.access_token,
    'POST',
    '/pisp/domestic-payments',
    { Data: { ConsentId: consent.Data.ConsentId, Initiation: initiation }, Risk: {} },
    { 'x-idempotency-key': randomUUID() },
  );
  return { status: payment.Data.Status, payment_id: payment.Data.DomesticPaymentId };
});
