"""Haven's services. Each owns its database and talks to the others by gRPC and events."""
