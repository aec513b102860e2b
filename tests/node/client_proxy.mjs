// One HTTPS request through the proxy named by HTTPS_PROXY, made by one Node client (job.client:
// axios, axios-legacy (axios 1.7, before axios tunnelled by itself), got, https (node:https) or
// fetch (Node's global fetch)). With job.agent the proxy is given to the client as an
// https-proxy-agent (CONNECT), as real integrations do for clients that ignore HTTPS_PROXY;
// without it the client is left to read the environment on its own. job.call (a path and an
// optional body) is signed when job.creds is there; the CA comes from NODE_EXTRA_CA_CERTS.
import https from 'node:https';
import axios from 'axios';
import axiosLegacy from 'axios-legacy';
import got from 'got';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { job, report, seen, signedHeaders } from './mcapi.mjs';

const j = job();
const proxy = process.env.HTTPS_PROXY;
const agent = j.agent ? new HttpsProxyAgent(proxy) : undefined;
const method = j.call.body ? 'POST' : 'GET';
const url = j.url + j.call.path;
const headers = j.creds ? signedHeaders(j.creds, j.call.path) : {};
const body = j.call.body ? JSON.stringify(j.call.body) : undefined;

function viaAxios(lib) {
  return lib.request({ method, url, headers, data: body, responseType: 'text',
    validateStatus: () => true, ...(agent ? { httpsAgent: agent, proxy: false } : {}) })
    .then((r) => seen(r.status, { ...r.headers }, r.data));
}

function viaGot() {
  return got(url, { method, headers, body, throwHttpErrors: false, retry: { limit: 0 },
    ...(agent ? { agent: { https: agent } } : {}) })
    .then((r) => seen(r.statusCode, r.headers, r.body));
}

function viaHttps() {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, headers, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve(seen(res.statusCode, res.headers, text)));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function viaFetch() {
  if (agent) throw new Error('fetch takes no agent (undici dispatchers only)');
  const r = await fetch(url, { method, headers, body });
  return seen(r.status, Object.fromEntries(r.headers), await r.text());
}

const clients = { axios: () => viaAxios(axios), 'axios-legacy': () => viaAxios(axiosLegacy),
  got: viaGot, https: viaHttps, fetch: viaFetch };
try {
  report(await clients[j.client]());
} catch (e) {
  report({ error: `${e.code ?? ''} ${e.message}`.trim() });
}
