"""Generated gRPC code for gateway.api (see proto/)."""
