"""The HTTP layer: the app, its dependencies, one router per resource, the console files."""
