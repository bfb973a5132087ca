"""`runqy worker`: registration, deployment, supervised task processes and the Redis loops.

Modules: `settings` (configuration), `registration` (POST /worker/register), `deployment` (code,
venv, task environment), `process` (one task process and the line protocol), `supervisor`
(pools, restarts, breaker), `job` (a task in flight), `processor` (dequeue, leases, outcomes,
background loops), `heartbeat` (logs, metrics, heartbeat fields), `runner` (life cycle) and
`cli` (the click command).
"""
