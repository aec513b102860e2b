// axios with axios-retry as Mimecast integrations use them: each call signed once, then handed to
// axios. Modes (job.mode) as in client_got.mjs: "calls" reports every answer of job.calls; "retry"
// spends the user's bucket with job.spend calls, then makes one call that axios-retry retries on
// 429 (or on job.statusCodes). axios-retry waits Retry-After and re-sends the request config, so
// the same headers.
import axios from 'axios';
import axiosRetry from 'axios-retry';
import { callHeaders, job, report, seen } from './mcapi.mjs';

const j = job();
// validateStatus: every status is an answer to report, not an exception.
const plain = axios.create({ baseURL: j.base, validateStatus: () => true });

function send(client, call) {
  return client.request({
    method: call.method ?? 'POST',
    url: call.path,
    headers: callHeaders(j, call),
    data: call.method === 'GET' ? undefined : JSON.stringify(call.body ?? { data: [] }),
    responseType: 'text',
  });
}

if (j.mode === 'calls') {
  const out = [];
  for (const call of j.calls) {
    const r = await send(plain, call);
    out.push({ name: call.name, ...seen(r.status, { ...r.headers.toJSON() }, r.data) });
  }
  report(out);
} else if (j.mode === 'retry') {
  const spent = [];
  for (let i = 0; i < j.spend; i++) spent.push((await send(plain, j.call)).status);
  const client = axios.create({ baseURL: j.base });
  const attempts = [];
  const retries = [];
  const started = Date.now();
  const note = (r) => attempts.push({
    status: r.status,
    reqId: r.config.headers['x-mc-req-id'],
    retryAfter: r.headers['retry-after'] ?? null,
    at: Date.now() - started,
  });
  client.interceptors.response.use((r) => { note(r); return r; },
    (e) => { if (e.response) note(e.response); return Promise.reject(e); });
  axiosRetry(client, {
    retries: 2,
    retryCondition: (e) => (j.statusCodes ?? [429]).includes(e.response?.status),
    onRetry: (retryCount, e) => retries.push({ retryCount, status: e.response?.status ?? null }),
  });
  let final;
  try {
    const r = await send(client, j.call);
    final = seen(r.status, { ...r.headers.toJSON() }, r.data);
  } catch (e) {
    final = { error: e.message, ...(e.response ? seen(e.response.status,
      { ...e.response.headers.toJSON() }, e.response.data) : {}) };
  }
  report({ spent, attempts, retries, final });
} else {
  throw new Error(`unknown mode ${j.mode}`);
}
