"""gRPC server builder, client channels, interceptors, error mapping."""
