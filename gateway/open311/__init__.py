"""Open311 GeoReport v2 at ``/open311/v2/``: the services catalogue, request forms, state
mapping, JSON and XML rendering, and the router that ties them to the case intake.

The pure parts (catalogue, forms, states, render, query) import no FastAPI and no
database, so they are tested without services.
"""
