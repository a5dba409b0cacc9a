// A real OpenID provider for the integration tests: node's certified `oidc-provider`,
// configured by the test that starts it (tests/tests/sso*.rs). Not part of the product.
//
//   node idp.mjs <config.json>
//
// The config names the clients (with their back-channel logout URIs) and the
// accounts (their claims, and the `acr`/`amr` their sign-in yields). The provider
// listens on a free loopback port and prints `READY <issuer>` once it serves.
//
// Its sign-in page is a plain form (`/interaction/<uid>`: a username, no password):
// the tests and the browser test type an account's name into it. Consent is given
// automatically. A few test-only controls sit under `/_test/`:
//   POST /_test/clients   [client metadata, ...]  replaces the registered clients
//   POST /_test/accounts  {"<sub>": {claims, acr, amr}, ...}  replaces those accounts
//   POST /_test/rotate    a new signing key, published first; the old one stays in the JWKS
//   POST /_test/last-logout-token  the last back-channel logout token it sent
import http from 'node:http';
import https from 'node:https';
import crypto from 'node:crypto';
import fs from 'node:fs';

import Provider from 'oidc-provider';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
config.clients ??= [];
const accounts = { ...config.accounts };
const keys = [newKey()];
let provider;
let lastLogoutToken;

function newKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), use: 'sig', alg: 'RS256' };
}

function build(issuer) {
  const p = new Provider(issuer, {
    clients: config.clients,
    jwks: { keys },
    cookies: { keys: ['gatehouse-test-idp'] },
    claims: {
      // Workforce providers (Entra, Okta) always send how the person signed in.
      openid: ['sub', 'acr', 'amr', 'auth_time'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      groups: ['groups', 'roles'],
    },
    scopes: ['openid', 'email', 'profile', 'groups'],
    // Every claim of the granted scopes goes into the ID token, as workforce IdPs do
    // for the groups claim.
    conformIdTokenClaims: false,
    acrValues: ['urn:gatehouse:test:pwd', 'urn:gatehouse:test:mfa'],
    features: {
      devInteractions: { enabled: false },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
    pkce: { required: () => true },
    // Gatehouse runs on loopback in the tests: the provider's SSRF guard against
    // special-use addresses is lifted for its back-channel logout requests.
    fetch: (url, options) => {
      delete options.dispatcher;
      // The last logout token sent, for the tests' replay (GET /_test/last-logout-token).
      const token = new URLSearchParams(String(options.body ?? '')).get('logout_token');
      if (token) lastLogoutToken = token;
      return globalThis.fetch(url, options);
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    findAccount: (ctx, id) => {
      const account = accounts[id];
      if (!account) return undefined;
      return { accountId: id, claims: () => ({ sub: id, ...account.claims }) };
    },
  });
  p.proxy = false;
  p.on('backchannel.error', (ctx, err, client) => console.error(`backchannel logout to ${client.clientId} failed: ${err.message} ${err.cause?.message ?? ""} ${err.cause?.code ?? ""}`));
  p.on('server_error', (ctx, err) => console.error(err));
  return p;
}

function page(res, status, body) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Test identity provider</title></head>
<body><main><h1>Test identity provider</h1>${body}</main></body></html>`);
}

function escape(value) {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function loginForm(uid, error) {
  return `${error ? `<p role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
  <label for="login">Username</label>
  <input id="login" name="login" autocomplete="username" required>
  <button type="submit">Sign in</button>
</form>`;
}

async function interaction(req, res, url) {
  const [, , uid, action] = url.pathname.split('/');
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return page(res, 400, '<p>Unknown interaction.</p>');
  const { prompt, params, session } = details;
  if (req.method === 'POST' && action === 'login') {
    const login = new URLSearchParams(await readBody(req)).get('login') ?? '';
    const account = accounts[login];
    if (!account) return page(res, 200, loginForm(uid, `No account named ${login}.`));
    return provider.interactionFinished(
      req,
      res,
      { login: { accountId: login, acr: account.acr, amr: account.amr } },
      { mergeWithLastSubmission: false },
    );
  }
  if (prompt.name === 'login') return page(res, 200, loginForm(uid));
  if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  return page(res, 400, `<p>Unexpected prompt ${escape(prompt.name)}.</p>`);
}

async function control(req, res, url, issuer) {
  const body = await readBody(req);
  if (url.pathname === '/_test/clients') {
    config.clients = JSON.parse(body);
    provider = build(issuer);
  } else if (url.pathname === '/_test/accounts') {
    Object.assign(accounts, JSON.parse(body));
  } else if (url.pathname === '/_test/last-logout-token') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ logout_token: lastLogoutToken ?? null }));
    return;
  } else if (url.pathname === '/_test/rotate') {
    keys.unshift(newKey());
    provider = build(issuer);
  } else {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ kid: keys[0].kid }));
}

// With `tls` ({cert, key} file paths) it serves https on `localhost`, as a partner's
// provider must be (Gatehouse reaches partners' providers over public https only).
const tls = config.tls
  ? { cert: fs.readFileSync(config.tls.cert), key: fs.readFileSync(config.tls.key) }
  : undefined;
const handler = (req, res) => {
  const url = new URL(req.url, 'http://localhost');
  const handle = url.pathname.startsWith('/_test/')
    ? control(req, res, url, server.issuer)
    : url.pathname.startsWith('/interaction/')
      ? interaction(req, res, url)
      : Promise.resolve(provider.callback()(req, res));
  handle.catch((err) => {
    console.error(err);
    if (!res.headersSent) page(res, 500, `<p>${escape(err.message)}</p>`);
  });
};

const server = tls ? https.createServer(tls, handler) : http.createServer(handler);

server.listen(config.port ?? 0, '127.0.0.1', () => {
  server.issuer = tls
    ? `https://localhost:${server.address().port}`
    : `http://127.0.0.1:${server.address().port}`;
  provider = build(server.issuer);
  console.log(`READY ${server.issuer}`);
});
