-- GET /v1/accounts: 20 rows of a random industry, richest first.
dofile(os.getenv("BENCH_DIR") .. "/wrk/common.lua")

request = function()
	local ind = bench.industry():gsub(" ", "%%20")
	return wrk.format("GET", "/v1/accounts?limit=20" ..
	    "&filter%5Bindustry%5D%5Beq%5D=" .. ind .. "&sort=-annual_revenue",
	    bench.headers())
end
