"""Reaching an environment: SSH with the stack key, and running one command inside it."""
