-- asynq-native server heartbeat on one server's two braced keys (wire-format.md 8.1).
-- KEYS: server info key, server workers key
-- ARGV: ttl, ServerInfo bytes, then task id / WorkerInfo bytes pairs
redis.call("SETEX", KEYS[1], ARGV[1], ARGV[2])
redis.call("DEL", KEYS[2])
for i = 3, #ARGV, 2 do
    redis.call("HSET", KEYS[2], ARGV[i], ARGV[i + 1])
end
redis.call("EXPIRE", KEYS[2], ARGV[1])
return 1
