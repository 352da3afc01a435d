"""Workers: the execution bot (bot.py), the quant-engine loader (engine.py), operator
listings (ops.py). They call the same database functions as the API, with their own roles."""
