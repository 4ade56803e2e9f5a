-- PATCH /v1/accounts/{id}: a random seeded account's employees (no
-- If-Match: concurrent patches of one row serialise on its row lock).
dofile(os.getenv("BENCH_DIR") .. "/wrk/common.lua")

request = function()
	return wrk.format("PATCH", "/v1/accounts/" .. bench.id(),
	    bench.headers(true),
	    string.format('{"employees":%d}', math.random(0, 100000)))
end
