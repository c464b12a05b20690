"""The entitlement policy: YAML -> checked model -> durable-rules -> Decision."""
