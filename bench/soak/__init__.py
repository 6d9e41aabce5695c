"""Soak run: the whole system under steady traffic for a bounded time, judged on memory trend and lag."""
