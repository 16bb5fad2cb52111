"""The clients step: make each machine trust the registry, log in, and prove a pull."""
