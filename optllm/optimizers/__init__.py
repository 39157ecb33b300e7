"""Stage 3, optimisation: the Pareto front of allocations and the optimisers that search it."""
