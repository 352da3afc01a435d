"""The chain the bot trades on: an interface (base.Chain) with two implementations,
rpc.SolanaRpcChain (JSON-RPC over HTTP) and sim.SimulatedChain (deterministic, for local
runs and tests)."""
