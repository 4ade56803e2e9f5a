-- POST /v1/auth/login as the bench owner (argon2id: run at c=4).
local body = string.format('{"email":"%s","password":"%s"}',
    os.getenv("BENCH_EMAIL"), os.getenv("BENCH_PW"))

request = function()
	return wrk.format("POST", "/v1/auth/login",
	    { ["Content-Type"] = "application/json" }, body)
end
