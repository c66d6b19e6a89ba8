"""The HTTP handlers of each function: read the request, call the core, shape the response."""
