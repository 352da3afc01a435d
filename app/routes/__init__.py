"""HTTP routes, one module per noun (each module's docstring says what it holds):

common.py   the door bound to the caller (injected as `db`), guards, shared parameters
ops.py      healthz, readyz, metrics: no token
user.py     UserController: /api/bot/..., /api/user/settings (user tokens)
history.py  UserTradesController: /api/bot/trades, the user's own trade history (user tokens)
scoring.py  ScoringController: /internal/scoring-runs..., /internal/ranked-traders
jobs.py     ExecutionJobController: /internal/execution-jobs... (the bot)
trades.py   TradeController: /internal/trades... (the bot)
amounts.py  the u64 amounts: read exactly (JSON integer or digits), answered as strings
inputs.py   Body (the base of every request body), text and nesting checks, query checks,
            the request class that names the field of an undecodable body
openapi.py  ErrorBody, the statuses of every operation, the amount schema, the docs page
            served offline (swagger-ui-bundle)
"""
