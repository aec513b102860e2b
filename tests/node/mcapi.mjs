// Shared by the client scripts of tests/node: signs a Mimecast API 1.0 request the way the
// service's documentation shows it (HMAC-SHA1 over "date:reqid:path:appKey" keyed with the
// base64-decoded secret key), reads the job the pytest driver passes as the first argument (JSON)
// and prints what the client saw as one JSON line. Nothing here is specific to mcapid.
import crypto from 'node:crypto';

export function job() {
  return JSON.parse(process.argv[2]);
}

// creds: {app_id, app_key, access_key, secret_key}; returns the headers of one signed call.
export function signedHeaders(creds, path, reqId = crypto.randomUUID()) {
  const date = new Date().toUTCString().replace('GMT', 'UTC');
  const sig = crypto
    .createHmac('sha1', Buffer.from(creds.secret_key, 'base64'))
    .update(`${date}:${reqId}:${path}:${creds.app_key}`)
    .digest('base64');
  return {
    Authorization: `MC ${creds.access_key}:${sig}`,
    'x-mc-app-id': creds.app_id,
    'x-mc-date': date,
    'x-mc-req-id': reqId,
    'Content-Type': 'application/json',
  };
}

// The headers of one call of a job: signed with call.creds (or the job's), then call.headers on
// top (a null value removes the header), or only call.headers when call.unsigned.
export function callHeaders(j, call) {
  const h = call.unsigned ? {} : signedHeaders(call.creds || j.creds, call.path);
  for (const [k, v] of Object.entries(call.headers || {})) {
    if (v === null) delete h[k];
    else h[k] = v;
  }
  return h;
}

// What a test needs of one answer; ctStrict is the comparison real clients make.
export function seen(status, headers, body) {
  return {
    status,
    headers,
    ctStrict: headers['content-type'] === 'application/json',
    body: typeof body === 'string' ? safeJson(body) : body,
  };
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function report(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}
