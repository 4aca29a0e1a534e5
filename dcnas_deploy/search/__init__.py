"""Architecture search: constraints (LUT latency, params, MACs), Alg. 2 evolution, closed-loop device check."""
