"""Benchmarks: the realtime hub against a raw Channels consumer, same run, real server process."""
