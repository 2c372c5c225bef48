"""The gRPC AdminService (proto/admin.proto)."""
