-- bench/wrk/common.lua: shared by the route scripts (dofile'd).
-- BENCH_TOKEN is the bench tenant owner's access token, BENCH_ROWS how
-- many accounts bench/seed.sql made (ids 00000000-0000-7000-8000-<n>).

bench = {}
bench.auth = "Bearer " .. assert(os.getenv("BENCH_TOKEN"), "BENCH_TOKEN")
bench.rows = tonumber(os.getenv("BENCH_ROWS") or "5000")

-- Each wrk thread has its own Lua state: seed each one differently.
math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0",
    16) % 1000003)

function bench.id()
	return string.format("00000000-0000-7000-8000-%012d",
	    math.random(1, bench.rows))
end

function bench.industry()
	return "Industry " .. math.random(1, 8)
end

function bench.headers(json)
	local h = { ["Authorization"] = bench.auth }
	if json then
		h["Content-Type"] = "application/json"
	end
	return h
end
