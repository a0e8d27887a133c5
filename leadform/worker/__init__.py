"""The outbox: events written with the data they describe, delivered later by workers."""
