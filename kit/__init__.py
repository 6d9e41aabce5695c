"""The harness shared by the tests, the benchmarks and the demo: ports, processes, bounded waits, Kafka and
PostgreSQL isolation. One copy of each, so a fix to a wait or a teardown reaches every caller."""
