// got as Mimecast integrations use it: each call signed once, then handed to got. Modes (job.mode):
// "calls" sends job.calls one after the other and reports every answer; "retry" first spends the
// user's bucket with job.spend calls, then makes one call with got's own retry for POST on 429 (or
// on job.statusCodes) and reports each attempt as got's hooks saw it. got re-sends the same
// headers on a retry: it does not run our signing again.
import got from 'got';
import { callHeaders, job, report, seen } from './mcapi.mjs';

const j = job();

function send(call, extra = {}) {
  const method = call.method ?? 'POST';
  return got(j.base + call.path, {
    method,
    body: method === 'GET' ? undefined : JSON.stringify(call.body ?? { data: [] }),
    headers: callHeaders(j, call),
    throwHttpErrors: false,
    retry: { limit: 0 },
    ...extra,
  });
}

if (j.mode === 'calls') {
  const out = [];
  for (const call of j.calls) {
    const r = await send(call);
    out.push({ name: call.name, ...seen(r.statusCode, r.headers, r.body) });
  }
  report(out);
} else if (j.mode === 'retry') {
  const spent = [];
  for (let i = 0; i < j.spend; i++) spent.push((await send(j.call)).statusCode);
  const attempts = [];
  const retries = [];
  const started = Date.now();
  let final;
  try {
    const r = await send(j.call, {
      throwHttpErrors: true,
      retry: { limit: 2, methods: ['POST'], statusCodes: j.statusCodes ?? [429],
        maxRetryAfter: 10000 },
      hooks: {
        afterResponse: [(response) => {
          attempts.push({
            status: response.statusCode,
            reqId: response.request.options.headers['x-mc-req-id'],
            retryAfter: response.headers['retry-after'] ?? null,
            at: Date.now() - started,
          });
          return response;
        }],
        beforeRetry: [(error, retryCount) => {
          retries.push({ retryCount, status: error.response?.statusCode ?? null });
        }],
      },
    });
    final = seen(r.statusCode, r.headers, r.body);
  } catch (e) {
    final = { error: e.message, ...(e.response ? seen(e.response.statusCode, e.response.headers,
      e.response.body) : {}) };
  }
  report({ spent, attempts, retries, final });
} else {
  throw new Error(`unknown mode ${j.mode}`);
}
