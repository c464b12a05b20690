"""The gRPC face of Tierline: servicers, validation, mapping, interceptors."""
