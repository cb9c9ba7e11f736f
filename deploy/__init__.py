"""Process management for running whosaid's servers on loopback (tests, benchmarks, ``make stack``)."""
