"""Evidence snapshots on the gateway: content-addressed files, retention (docs/evidence.md)."""
