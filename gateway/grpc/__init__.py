"""The publishers' edge: the gRPC servicer and the protobuf → models translation."""
