"""HTTP routes, one module per noun (each module's docstring says what it holds):

common.py   the door bound to the caller (injected as `db`), guards, shared parameters
ops.py      healthz, readyz, metrics: no token
user.py     UserController: /api/bot/..., /api/user/settings (user tokens)
history.py  UserTradesController: /api/bot/trades, the user's own trade history (user tokens)
scoring.py  ScoringController: /internal/scoring-runs..., /internal/ranked-traders
jobs.py     ExecutionJobController: /internal/execution-jobs... (the bot)
trades.py   TradeController: /internal/trades... (the bot)
amounts.py  the u64 amount type of the trade bodies
"""
