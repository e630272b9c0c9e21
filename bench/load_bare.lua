-- The ceiling for bench/load.py: the same server's bare route (one INSERT in its own transaction).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.rep("x", 900)
wrk.path = "/notify/_bench_bare"
