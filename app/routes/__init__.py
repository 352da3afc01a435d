"""HTTP routes: ops (no token), user (the original endpoints), internal (service tokens)."""
