"""Tierline's decision service: policy, features, API."""
