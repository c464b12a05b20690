"""Tierline's Python client: real-time service entitlement decisions over gRPC.

The API's generated messages and stubs are in :mod:`tierline.v1` (``entitlement_pb2``,
``entitlement_pb2_grpc``, ``policy_admin_pb2``, ``policy_admin_pb2_grpc``), built from
``proto/tierline/v1`` by ``make proto``.
"""
