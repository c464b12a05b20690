"""The HTTP face of Tierline: the Connect protocol and gRPC-Web over the call guard, health for
load balancers, CORS for browsers, served by Hypercorn beside gRPC."""
