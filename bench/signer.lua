-- wrk script that signs every request freshly as docs/api.md §2.1 says: a new x-mc-date (cached
-- per second), a new x-mc-req-id (run nonce, thread id and a per-thread counter, so ids never repeat
-- across threads or runs: the server refuses replays) and HMAC-SHA1 over
-- "date:reqid:path:appKey" keyed with the base64-decoded secret key. wrk's LuaJIT has no crypto,
-- so SHA-1, HMAC and base64 are written here on LuaJIT's `bit` library.
--
-- Configuration (environment):
--   MC_CREDENTIALS  a dev-credentials.json (app_id, app_key, access_key, secret_key); or each of
--   MC_APP_ID MC_APP_KEY MC_ACCESS_KEY MC_SECRET_KEY (these override the file)
--   MC_PATH         request path (default /api/account/get-account)
--   MC_BODY         request body (default {"data":[]})
--   MC_CHECK_BODY=1 also read every response body and count those without an empty "fail"
--                   array (slower; used for the warm-up run, not the measured one)
--   MC_RESULT_FILE  done() appends one key=value line with the figures there
--   MC_UNSIGNED=1   send the same POST without the three signed headers as wrk's static
--                   request (no Lua per request, no credentials needed): the cheapest client,
--                   for a reference server such as nginx
--
-- Self-test: `luajit bench/signer.lua [signature-vectors.json]`, or inside wrk's own LuaJIT:
--   MC_SIGNER_SELFTEST=1 MC_VECTORS=path/signature-vectors.json wrk -s bench/signer.lua http://x/
-- It checks SHA-1 and HMAC-SHA1 against RFC 3174 / RFC 2202 vectors and the signing vectors.

local bit = require("bit")
local band, bor, bxor, bnot = bit.band, bit.bor, bit.bxor, bit.bnot
local rol, lshift, rshift, tobit = bit.rol, bit.lshift, bit.rshift, bit.tobit
local sbyte, schar, srep, sfmt, ssub = string.byte, string.char, string.rep, string.format, string.sub
local concat = table.concat

---------------------------------------------------------------------------------------------
-- SHA-1 (FIPS 180-4). State is five 32-bit words kept as LuaJIT bit-ops signed integers.

local W = {}

-- Compresses the 64-byte blocks of s (whose length is a multiple of 64) into state h.
local function sha1_compress(h, s)
	local h0, h1, h2, h3, h4 = h[1], h[2], h[3], h[4], h[5]
	for off = 1, #s, 64 do
		for j = 0, 15 do
			local b1, b2, b3, b4 = sbyte(s, off + j * 4, off + j * 4 + 3)
			W[j] = bor(lshift(b1, 24), lshift(b2, 16), lshift(b3, 8), b4)
		end
		for j = 16, 79 do
			W[j] = rol(bxor(W[j - 3], W[j - 8], W[j - 14], W[j - 16]), 1)
		end
		local a, b, c, d, e = h0, h1, h2, h3, h4
		-- Four loops of 20 rounds rather than one with a branch per round: LuaJIT traces
		-- each loop body without side exits.
		for j = 0, 19 do
			local t = tobit(rol(a, 5) + bxor(d, band(b, bxor(c, d))) + e + 0x5A827999 + W[j])
			e, d, c, b, a = d, c, rol(b, 30), a, t
		end
		for j = 20, 39 do
			local t = tobit(rol(a, 5) + bxor(b, c, d) + e + 0x6ED9EBA1 + W[j])
			e, d, c, b, a = d, c, rol(b, 30), a, t
		end
		for j = 40, 59 do
			local t = tobit(rol(a, 5) + bor(band(b, c), band(d, bor(b, c))) + e + 0x8F1BBCDC + W[j])
			e, d, c, b, a = d, c, rol(b, 30), a, t
		end
		for j = 60, 79 do
			local t = tobit(rol(a, 5) + bxor(b, c, d) + e + 0xCA62C1D6 + W[j])
			e, d, c, b, a = d, c, rol(b, 30), a, t
		end
		h0, h1, h2, h3, h4 = tobit(h0 + a), tobit(h1 + b), tobit(h2 + c), tobit(h3 + d), tobit(h4 + e)
	end
	h[1], h[2], h[3], h[4], h[5] = h0, h1, h2, h3, h4
end

local function be32(x)
	return schar(band(rshift(x, 24), 255), band(rshift(x, 16), 255), band(rshift(x, 8), 255),
		band(x, 255))
end

local SHA1_INIT = { tobit(0x67452301), tobit(0xEFCDAB89), tobit(0x98BADCFE), tobit(0x10325476),
	tobit(0xC3D2E1F0) }

-- Hashes msg starting from `state` (not modified) after `done_len` bytes already compressed
-- into it (a multiple of 64; 0 with SHA1_INIT for a plain hash). Returns the 20-byte digest.
local function sha1_from(state, done_len, msg)
	local h = { state[1], state[2], state[3], state[4], state[5] }
	local total = done_len + #msg
	local pad = 64 - (total + 9) % 64
	if pad == 64 then pad = 0 end
	local bits = total * 8
	local tail = msg .. "\128" .. srep("\0", pad) .. be32(math.floor(bits / 4294967296))
		.. be32(tobit(bits % 4294967296))
	sha1_compress(h, tail)
	return be32(h[1]) .. be32(h[2]) .. be32(h[3]) .. be32(h[4]) .. be32(h[5])
end

local function sha1(msg)
	return sha1_from(SHA1_INIT, 0, msg)
end

---------------------------------------------------------------------------------------------
-- HMAC-SHA1 (RFC 2104) with the key's inner and outer pads compressed once up front.

local function xor_pad(key, byte)
	local out = {}
	for i = 1, 64 do
		out[i] = schar(bxor(sbyte(key, i) or 0, byte))
	end
	return concat(out)
end

-- Returns a function msg -> 20-byte MAC for this key.
local function hmac_sha1_for(key)
	if #key > 64 then key = sha1(key) end
	local inner = { SHA1_INIT[1], SHA1_INIT[2], SHA1_INIT[3], SHA1_INIT[4], SHA1_INIT[5] }
	local outer = { SHA1_INIT[1], SHA1_INIT[2], SHA1_INIT[3], SHA1_INIT[4], SHA1_INIT[5] }
	sha1_compress(inner, xor_pad(key, 0x36))
	sha1_compress(outer, xor_pad(key, 0x5c))
	return function(msg)
		return sha1_from(outer, 64, sha1_from(inner, 64, msg))
	end
end

---------------------------------------------------------------------------------------------
-- Base64 (RFC 4648, standard alphabet, padded).

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local ENC, ENCB, DEC = {}, {}, {}
for i = 1, 64 do
	ENC[i - 1] = ssub(B64, i, i)
	ENCB[i - 1] = sbyte(B64, i)
	DEC[sbyte(B64, i)] = i - 1
end

local function b64encode(s)
	local out, n = {}, #s
	for i = 1, n, 3 do
		local a, b, c = sbyte(s, i, i + 2)
		local v = lshift(a, 16) + lshift(b or 0, 8) + (c or 0)
		out[#out + 1] = ENC[band(rshift(v, 18), 63)] .. ENC[band(rshift(v, 12), 63)]
			.. (b and ENC[band(rshift(v, 6), 63)] or "=") .. (c and ENC[band(v, 63)] or "=")
	end
	return concat(out)
end

-- b64encode for exactly 20 bytes (a SHA-1 MAC), without the table and concat of the general one:
-- this runs once per request.
local function b64encode20(s)
	local o = {}
	for i = 0, 5 do
		local a, b, c = sbyte(s, i * 3 + 1, i * 3 + 3)
		local v = lshift(a, 16) + lshift(b, 8) + c
		o[i * 4 + 1], o[i * 4 + 2] = ENCB[rshift(v, 18)], ENCB[band(rshift(v, 12), 63)]
		o[i * 4 + 3], o[i * 4 + 4] = ENCB[band(rshift(v, 6), 63)], ENCB[band(v, 63)]
	end
	local a, b = sbyte(s, 19, 20)
	local v = lshift(a, 16) + lshift(b, 8)
	return schar(o[1], o[2], o[3], o[4], o[5], o[6], o[7], o[8], o[9], o[10], o[11], o[12], o[13],
		o[14], o[15], o[16], o[17], o[18], o[19], o[20], o[21], o[22], o[23], o[24],
		ENCB[rshift(v, 18)], ENCB[band(rshift(v, 12), 63)], ENCB[band(rshift(v, 6), 63)], 61)
end

-- Returns the decoded string, or nil and a message for malformed input.
local function b64decode(s)
	s = s:gsub("%s", "")
	if #s % 4 ~= 0 then return nil, "length is not a multiple of 4" end
	local out = {}
	for i = 1, #s, 4 do
		local c1, c2, c3, c4 = sbyte(s, i, i + 3)
		local last = i + 3 == #s
		local v1, v2 = DEC[c1], DEC[c2]
		local v3 = (c3 == 61 and last and c4 == 61) and 0 or DEC[c3]
		local v4 = (c4 == 61 and last) and 0 or DEC[c4]
		if not (v1 and v2 and v3 and v4) then return nil, "bad character near offset " .. i end
		local v = lshift(v1, 18) + lshift(v2, 12) + lshift(v3, 6) + v4
		if c3 == 61 then
			out[#out + 1] = schar(band(rshift(v, 16), 255))
		elseif c4 == 61 then
			out[#out + 1] = schar(band(rshift(v, 16), 255), band(rshift(v, 8), 255))
		else
			out[#out + 1] = schar(band(rshift(v, 16), 255), band(rshift(v, 8), 255), band(v, 255))
		end
	end
	return concat(out)
end

-- docs/api.md §2.1: the value of the Authorization header for one request.
local function mc_authorization(access_key, mac, date, req_id, path, app_key)
	return "MC " .. access_key .. ":" .. b64encode20(mac(date .. ":" .. req_id .. ":" .. path .. ":" .. app_key))
end

---------------------------------------------------------------------------------------------
-- Self-test.

local function tohex(s)
	return (s:gsub(".", function(c) return sfmt("%02x", sbyte(c)) end))
end

local function read_file(path)
	local f = io.open(path, "rb")
	if not f then return nil end
	local s = f:read("*a")
	f:close()
	return s
end

-- The few string fields of a flat JSON object without escapes (credentials, vectors).
local function json_field(obj, key)
	local v = obj:match('"' .. key:gsub("%-", "%%-") .. '"%s*:%s*"(.-)"')
	return v and v:gsub("\\/", "/") or nil
end

local function selftest(vectors_path)
	local fails, n = 0, 0
	local function check(name, got, want)
		n = n + 1
		if got ~= want then
			fails = fails + 1
			io.stderr:write(sfmt("FAIL %s\n  got  %s\n  want %s\n", name, tostring(got), want))
		end
	end
	check("sha1 empty", tohex(sha1("")), "da39a3ee5e6b4b0d3255bfef95601890afd80709")
	check("sha1 abc", tohex(sha1("abc")), "a9993e364706816aba3e25717850c26c9cd0d89d")
	check("sha1 448 bits", tohex(sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
		"84983e441c3bd26ebaae4aa1f95129e5e54670f1")
	check("sha1 million a", tohex(sha1(srep("a", 1000000))), "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
	check("sha1 55 bytes", tohex(sha1(srep("x", 55))), tohex(sha1(srep("x", 55)))) -- padding edge runs
	check("hmac rfc2202 #2", tohex(hmac_sha1_for("Jefe")("what do ya want for nothing?")),
		"effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")
	check("hmac rfc2202 #6", tohex(hmac_sha1_for(srep("\170", 80))(
		"Test Using Larger Than Block-Size Key - Hash Key First")),
		"aa4ae5e15272d00e95705637ce8a3b55ed402112")
	check("b64 roundtrip", b64decode(b64encode("\0\1\2\253\254\255ab")), "\0\1\2\253\254\255ab")
	check("b64 pad1", b64encode("ab"), "YWI=")
	check("b64 pad2", b64encode("a"), "YQ==")
	check("b64 decode", b64decode("U2VjcmV0S2V5"), "SecretKey")
	check("b64 20 bytes", b64encode20(sha1("abc")), b64encode(sha1("abc")))

	-- First vector of signature-vectors.json, built in so the test runs without the file.
	local vectors = { {
		secretKey = "U2VjcmV0S2V5", appKey = "ApplicationKey", accessKey = "AccessKey",
		date = "Sun, 21 Aug 2022 13:49:40 UTC", reqid = "3d796b76-4180-40e5-8f7c-6e0fd643b1a9",
		uri = "/api/test/some-url", authorization = "MC AccessKey:WOywLsnZlsE+D6bp/ug6uch5kxc=",
		note = "built-in public KAT" } }
	local text = vectors_path and read_file(vectors_path)
	if vectors_path and not text then
		io.stderr:write("cannot read " .. vectors_path .. "\n")
		fails = fails + 1
	end
	for obj in (text or ""):gmatch("%b{}") do
		vectors[#vectors + 1] = {
			secretKey = json_field(obj, "secretKey"), appKey = json_field(obj, "appKey"),
			accessKey = json_field(obj, "accessKey"), date = json_field(obj, "x-mc-date"),
			reqid = json_field(obj, "x-mc-req-id"), uri = json_field(obj, "uri"),
			authorization = json_field(obj, "authorization"), note = json_field(obj, "note") }
	end
	for i, v in ipairs(vectors) do
		local key = b64decode(v.secretKey)
		check(sfmt("vector %d (%s)", i, v.note or "?"),
			mc_authorization(v.accessKey, hmac_sha1_for(key), v.date, v.reqid, v.uri, v.appKey),
			v.authorization)
	end
	print(sfmt("signer self-test: %d checks (%d signing vectors), %d failed", n, #vectors, fails))
	return fails == 0
end

if wrk == nil or os.getenv("MC_SIGNER_SELFTEST") == "1" then
	local vectors = (arg and arg[1]) or os.getenv("MC_VECTORS")
	local ok = selftest(vectors ~= "" and vectors or nil)
	os.exit(ok and 0 or 1)
end

---------------------------------------------------------------------------------------------
-- wrk hooks. setup() and done() run in the main Lua state, init()/request()/response() in each
-- thread's own state; values cross over with thread:set/get only.

local threads = {}

local function credentials()
	local c = {}
	local file = os.getenv("MC_CREDENTIALS")
	local text = file and read_file(file)
	if file and not text then error("MC_CREDENTIALS: cannot read " .. file) end
	for _, k in ipairs({ "app_id", "app_key", "access_key", "secret_key" }) do
		c[k] = os.getenv("MC_" .. k:upper()) or (text and json_field(text, k))
		if not c[k] or c[k] == "" then
			error("signer: no " .. k .. " (set MC_CREDENTIALS or MC_" .. k:upper() .. ")")
		end
	end
	return c
end

function setup(thread)
	-- One nonce per run from the kernel, so ids differ from any earlier run against the same
	-- server; the thread id keeps threads apart and the counter keeps requests apart.
	if not run_nonce then
		local f = io.open("/dev/urandom", "rb")
		local b = f:read(4)
		f:close()
		run_nonce = sfmt("%02x%02x%02x%02x", sbyte(b, 1, 4))
	end
	threads[#threads + 1] = thread
	thread:set("tid", #threads)
	thread:set("nonce", run_nonce)
end

local mac, prefix, auth_prefix, body, path, app_key, counter
local id_prefix, cached_sec, cached_date = nil, -1, nil
local check_body, bad_body = false, 0

local unsigned = os.getenv("MC_UNSIGNED") == "1"

function init(args)
	if unsigned then
		-- wrk builds its one static request from these after init() (wrk.format).
		wrk.method = "POST"
		wrk.path = os.getenv("MC_PATH") or "/api/account/get-account"
		wrk.body = os.getenv("MC_BODY") or '{"data":[]}'
		wrk.headers["Content-Type"] = "application/json"
		wrk.headers["Accept"] = "application/json"
		return
	end
	local c = credentials()
	local key, msg = b64decode(c.secret_key)
	if not key then error("signer: secret_key is not base64: " .. msg) end
	mac = hmac_sha1_for(key)
	app_key = c.app_key
	auth_prefix = "MC " .. c.access_key .. ":"
	path = os.getenv("MC_PATH") or "/api/account/get-account"
	body = os.getenv("MC_BODY") or '{"data":[]}'
	counter = 0
	id_prefix = sfmt("%s-%04x-4000-8000-", nonce or "00000000", tid or 0)
	-- Everything but the three signed headers is the same for every request.
	prefix = "POST " .. path .. " HTTP/1.1\r\nHost: " .. wrk.headers["Host"] ..
		"\r\nContent-Type: application/json\r\nAccept: application/json\r\nx-mc-app-id: " ..
		c.app_id .. "\r\nContent-Length: " .. #body .. "\r\n"
	check_body = os.getenv("MC_CHECK_BODY") == "1"
	if check_body then
		response = function(status, headers, rbody)
			-- meta.status 200 with an empty fail array is success (docs/api.md §3).
			if status ~= 200 or not rbody or not rbody:find('"fail"%s*:%s*%[%s*%]') then
				bad_body = bad_body + 1
				if bad_body == 1 then
					io.stderr:write("signer: unexpected response " .. status .. ": " ..
						tostring(rbody):sub(1, 300) .. "\n")
				end
			end
			-- wrk reads globals with thread:get, so publish the count each time.
			bad = bad_body
		end
	end
end

-- Defined only when signing: wrk calls a global request() for every request if there is one.
local function signed_request()
	counter = counter + 1
	-- os.time() is a C call LuaJIT cannot compile; read the clock every 32 requests (the date
	-- stays within a second or so at load, and the server allows minutes of skew).
	if band(counter, 31) == 1 then
		local now = os.time()
		if now ~= cached_sec then
			cached_sec = now
			cached_date = os.date("!%a, %d %b %Y %H:%M:%S UTC", now)
		end
	end
	local req_id = id_prefix .. sfmt("%012x", counter)
	local sig = b64encode20(mac(cached_date .. ":" .. req_id .. ":" .. path .. ":" .. app_key))
	return prefix .. "x-mc-date: " .. cached_date .. "\r\nx-mc-req-id: " .. req_id ..
		"\r\nAuthorization: " .. auth_prefix .. sig .. "\r\n\r\n" .. body
end
if not unsigned then request = signed_request end

function done(summary, latency, requests)
	local bad_total = 0
	for _, t in ipairs(threads) do
		bad_total = bad_total + (tonumber(t:get("bad")) or 0)
	end
	local e = summary.errors
	local secs = summary.duration / 1e6
	local line = sfmt("requests=%d duration_s=%.3f rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
		"non2xx=%d connect_err=%d read_err=%d write_err=%d timeouts=%d bad_body=%d bytes=%d",
		summary.requests, secs, summary.requests / secs, latency:percentile(50),
		latency:percentile(90), latency:percentile(99), latency.max, e.status, e.connect, e.read,
		e.write, e.timeout, bad_total, summary.bytes)
	print("RESULT " .. line)
	local out = os.getenv("MC_RESULT_FILE")
	if out then
		local f = assert(io.open(out, "a"))
		f:write(line, "\n")
		f:close()
	end
end
