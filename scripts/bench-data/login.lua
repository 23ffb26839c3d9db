-- wrk script: POST /login with the benchmark user's credentials (from env).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format('{"nickname": "%s", "password": "%s"}', os.getenv("BENCH_USER"), os.getenv("BENCH_PASSWORD"))
