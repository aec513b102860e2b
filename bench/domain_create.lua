-- wrk script for create-domain with distinct names: every request is freshly signed (by
-- bench/signer.lua, loaded into the same chunk so its locals are reachable) and carries
-- MC_DOMAIN_BATCH (default 50) domains never sent before: "<nonce>-<thread>-<n>-<i>.bench".
-- Usage: MC_CREDENTIALS=dev-credentials.json wrk -s bench/domain_create.lua http://host:port
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local f = assert(io.open(dir .. "signer.lua", "rb"))
local src = f:read("*a")
f:close()

-- Appended to signer.lua's chunk: replaces init's fixed body and request() with one that
-- builds a new body each time (Content-Length then differs per request).
src = src .. [==[
local batch = tonumber(os.getenv("MC_DOMAIN_BATCH") or "50")
local create_path = "/api/domain/create-domain"
local base_init = init
local head
function init(args)
	base_init(args)
	path = create_path
	local c = credentials()
	head = "POST " .. path .. " HTTP/1.1\r\nHost: " .. wrk.headers["Host"] ..
		"\r\nContent-Type: application/json\r\nAccept: application/json\r\nx-mc-app-id: " ..
		c.app_id .. "\r\n"
end

local items = {}
function request()
	counter = counter + 1
	if band(counter, 31) == 1 then
		local now = os.time()
		if now ~= cached_sec then
			cached_sec = now
			cached_date = os.date("!%a, %d %b %Y %H:%M:%S UTC", now)
		end
	end
	for i = 1, batch do
		items[i] = sfmt('{"domain":"d%s-%x-%x-%d.bench","inboundType":"any"}', nonce or "0",
			tid or 0, counter, i)
	end
	local b = '{"data":[' .. concat(items, ",") .. ']}'
	local req_id = id_prefix .. sfmt("%012x", counter)
	local sig = b64encode20(mac(cached_date .. ":" .. req_id .. ":" .. path .. ":" .. app_key))
	return head .. "Content-Length: " .. #b .. "\r\nx-mc-date: " .. cached_date ..
		"\r\nx-mc-req-id: " .. req_id .. "\r\nAuthorization: " .. auth_prefix .. sig ..
		"\r\n\r\n" .. b
end
]==]
assert(loadstring(src, "=signer.lua+domain_create.lua"))()
