"""One router per resource; :mod:`gateway.api.app` mounts them all."""
