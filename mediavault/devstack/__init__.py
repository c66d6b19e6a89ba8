"""The real local stack (PostgreSQL, MinIO, NSQ, every function, the gateway) on one machine."""
