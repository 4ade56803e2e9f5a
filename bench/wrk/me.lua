-- GET /v1/me with the bench token.
dofile(os.getenv("BENCH_DIR") .. "/wrk/common.lua")

request = function()
	return wrk.format("GET", "/v1/me", bench.headers())
end
