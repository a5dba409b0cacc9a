// A partner's webhook receiver for tests/tests/webhooks.rs: https on every loopback address (a
// port chosen by the system, printed on the first line of stdout), verifying every
// delivery with the `standardwebhooks` npm package, the Standard Webhooks project's
// own JavaScript library — not the Rust crate Gatehouse signs with.
//
// Control (JSON, from the test):
//   POST /_control {"path", "secrets": [...]}          the secrets to verify `path` with
//   POST /_control {"path", "plan": [{status, retryAfter, delayMs}]}  answers, in order
//                                                      (then 200)
//   POST /_control {"clockOffsetMs"}                   Gatehouse's clock minus this one,
//                                                      so the 5-minute timestamp
//                                                      tolerance is checked against it
//   GET  /_log                                         every delivery seen, in order
import https from 'node:https';
import fs from 'node:fs';
import { Webhook } from 'standardwebhooks';

const [certFile, keyFile] = process.argv.slice(2);
const realNow = Date.now;
let offsetMs = 0;
Date.now = () => realNow() + offsetMs;

const secrets = {};
const plans = {};
const log = [];
const acknowledged = new Set();

function reply(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(body === undefined ? '' : JSON.stringify(body));
}

const server = https.createServer(
  { cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) },
  (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (req.url === '/_control' && req.method === 'POST') {
        const control = JSON.parse(body);
        if (control.secrets) secrets[control.path] = control.secrets;
        if (control.plan) plans[control.path] = control.plan;
        if (control.clockOffsetMs !== undefined) offsetMs = control.clockOffsetMs;
        return reply(res, 200, {});
      }
      if (req.url === '/_log') return reply(res, 200, log);
      const id = req.headers['webhook-id'];
      // Which of the path's secrets verify the delivery, each on its own.
      const verifiedWith = [];
      const errors = [];
      (secrets[req.url] || []).forEach((secret, i) => {
        try {
          new Webhook(secret).verify(body, req.headers);
          verifiedWith.push(i);
        } catch (e) {
          errors.push(String(e.message || e));
        }
      });
      let type = null;
      try {
        type = JSON.parse(body).type;
      } catch (e) {
        errors.push('the body is not JSON');
      }
      const step = (plans[req.url] || []).shift() || { status: 200 };
      const entry = {
        path: req.url,
        id,
        timestamp: Number(req.headers['webhook-timestamp']),
        signatures: (req.headers['webhook-signature'] || '').split(' ').length,
        contentType: req.headers['content-type'],
        type,
        verifiedWith,
        errors,
        status: step.status,
        alreadyAcknowledged: acknowledged.has(id),
        answered: false,
      };
      log.push(entry);
      res.on('finish', () => {
        entry.answered = true;
        if (step.status >= 200 && step.status < 300) acknowledged.add(id);
      });
      const headers = step.retryAfter ? { 'retry-after': String(step.retryAfter) } : {};
      setTimeout(() => {
        // The sender went away (it was killed mid-delivery): no answer reached it.
        if (req.socket.destroyed) {
          entry.abandoned = true;
          return;
        }
        reply(res, step.status, { ok: step.status < 300 }, headers);
      }, step.delayMs || 0);
    });
  },
);
// Dual-stack: reachable at 127.0.0.1, ::1 and the rest of 127.0.0.0/8, so a test
// can tell the SSRF guard's refusal from an unreachable address.
server.listen(0, '::', () => {
  console.log(JSON.stringify({ port: server.address().port }));
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
