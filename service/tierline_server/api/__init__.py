"""Tierline's API whatever the transport: the call guard, servicers, validation, mapping,
callers and their permissions; and the guard over gRPC."""
