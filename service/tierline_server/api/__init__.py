"""The gRPC face of Tierline: the call guard, servicers, validation, mapping."""
