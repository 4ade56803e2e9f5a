-- GET /v1/accounts/{id}: a random seeded account.
dofile(os.getenv("BENCH_DIR") .. "/wrk/common.lua")

request = function()
	return wrk.format("GET", "/v1/accounts/" .. bench.id(), bench.headers())
end
