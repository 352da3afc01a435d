"""The one door to the database.

Every process reaches PostgreSQL through this package, and nothing else in app/ names an
`api.` function (tests/test_layout.py checks it):

    core.py       the Call (one api function, named arguments, the shape of its answer),
                  the prelude every transaction starts with (role, verified claims, actor,
                  statement_timeout: transaction-local), the login check, the SQLSTATE
                  names and the facts of a refusal (its DETAIL, a JSON object)
    aio.py        the asynchronous face (the HTTP API): a pool; await database.run(call, ...)
    sync.py       the synchronous face (workers, seed, command line): one connection;
                  db.run(call), with db.transaction() as t: t.run(call)
    scoring.py, jobs.py, trades.py, bots.py, settings.py, ops.py
                  one function per api function of that noun, building its Call
    batches.py    many calls of one api function in one statement (the volume seed)
"""
