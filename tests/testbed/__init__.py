"""Test bed: real CNCF Distribution registries on loopback, seeded by skopeo."""
