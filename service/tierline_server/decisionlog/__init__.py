"""The decision log: each decision (or a sample) appended to a Redis Stream off the request path,
and read back for support, export and replay."""
