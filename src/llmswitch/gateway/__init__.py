"""The gateway (llmswitch serve)."""
