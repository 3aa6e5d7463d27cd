"""Generated code for gateway.api.v1: regenerate with scripts/gen-proto, never edit."""
