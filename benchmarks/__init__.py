"""regwiz's benchmarks: each figure a ratio against a baseline measured side by side (README, Benchmarks)."""
