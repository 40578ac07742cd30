// A real OpenID provider (the npm package oidc-provider) on loopback, standing in for the
// institution's identity broker in libcard's strong-login tests.
//
//   node provider.mjs --redirect-uri URI [--redirect-uri URI …] [--client-id ID]
//                     [--client-secret SECRET]
//                     [--acr VALUE] [--advertise-issuer URL]
//
// It listens on a free port of 127.0.0.1 and prints one JSON line {"issuer": ...} when ready.
// The login page is a plain form a test can post without a browser: any login name is an
// account (the name is its subject), and the `acr` field, when given, replaces the assurance
// level of --acr for that one login. The `student_id` field, when given, is the account's
// student id from then on (the claim `student_id` of the scope `person`), as a university's
// login vouches for a student number. Consent is given at once for the one client. "Cancel"
// answers the client with access_denied, as a broker does when the person gives up.

import crypto from 'node:crypto';
import http from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    // Each callback of the client, e.g. the strong login's and the single sign-on's.
    'redirect-uri': { type: 'string', multiple: true },
    'client-id': { type: 'string', default: 'libcard' },
    'client-secret': { type: 'string', default: 'libcard-test-secret' },
    acr: { type: 'string', default: 'https://data.gov.dk/concept/core/nsis/loa/Substantial' },
    // An issuer other than the address it is served at: a misconfigured or impostor broker.
    'advertise-issuer': { type: 'string' },
  },
});
if (!args['redirect-uri']) {
  console.error('--redirect-uri is required');
  process.exit(2);
}

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), use: 'sig', alg: 'RS256' };

const server = http.createServer();
await new Promise((resolve) => { server.listen(0, '127.0.0.1', resolve); });
const served = `http://127.0.0.1:${server.address().port}`;
const issuer = args['advertise-issuer'] || served;

const studentIds = new Map();

const provider = new Provider(issuer, {
  clients: [{
    client_id: args['client-id'],
    client_secret: args['client-secret'],
    redirect_uris: args['redirect-uri'],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [signingKey] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  acrValues: [args.acr, 'weak'],
  claims: { openid: ['sub'], person: ['person_uuid', 'student_id'] },
  // The claims of a scope go into the ID token too, as identity brokers commonly do.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        const studentId = studentIds.get(id);
        return { sub: id, person_uuid: `person-${id}`, ...(studentId ? { student_id: studentId } : {}) };
      },
    };
  },
  // First-party client: consent is implied, the grant made on first use.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      return ctx.oidc.provider.Grant.find(grantId);
    }
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid person');
    await grant.save();
    return grant;
  },
});
provider.on('server_error', (ctx, error) => { console.error('server_error', error); });

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function formBody(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 10_000) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    res.writeHead(400).end('interaction mismatch');
    return;
  }
  if (req.method === 'GET' && !action) {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(
      `<!doctype html><title>Log in</title><h1>Test broker: ${escape(details.prompt.name)}</h1>`
      + `<form method="post" action="/interaction/${escape(uid)}/login">`
      + '<label>Login <input name="login"></label> <label>acr <input name="acr"></label>'
      + ' <label>Student id <input name="student_id"></label>'
      + '<button>Log in</button></form>'
      + `<form method="post" action="/interaction/${escape(uid)}/abort"><button>Cancel</button></form>`,
    );
    return;
  }
  if (req.method === 'POST' && action === 'login') {
    const form = await formBody(req);
    const login = form.get('login');
    if (!login) {
      res.writeHead(400).end('login required');
      return;
    }
    if (form.get('student_id')) studentIds.set(login, form.get('student_id'));
    await provider.interactionFinished(req, res, {
      login: { accountId: login, acr: form.get('acr') || args.acr },
    }, { mergeWithLastSubmission: false });
    return;
  }
  if (req.method === 'POST' && action === 'abort') {
    await provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
    return;
  }
  res.writeHead(404).end();
}

const oidc = provider.callback();
server.on('request', (req, res) => {
  const found = req.url.match(/^\/interaction\/([\w-]+)(?:\/(login|abort))?$/);
  if (!found) {
    oidc(req, res);
    return;
  }
  interaction(req, res, found[1], found[2]).catch((error) => {
    console.error(error);
    if (!res.headersSent) res.writeHead(500).end(String(error));
  });
});

process.on('SIGTERM', () => { server.close(); process.exit(0); });
console.log(JSON.stringify({ issuer, served }));
