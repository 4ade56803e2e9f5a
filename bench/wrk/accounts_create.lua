-- POST /v1/accounts: a new account with a random name, industry, revenue.
dofile(os.getenv("BENCH_DIR") .. "/wrk/common.lua")

request = function()
	local n = math.random(1, 1000000000)
	local body = string.format('{"name":"Created %d","industry":"%s",' ..
	    '"annual_revenue":"%d.00","currency":"EUR"}', n, bench.industry(),
	    n % 10000000)
	return wrk.format("POST", "/v1/accounts", bench.headers(true), body)
end
