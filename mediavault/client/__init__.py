"""The `mediavault` command-line client: the public HTTP API only, never the server's packages.

It imports httpx and rich, and from the core only what needs no server dependency (the exception
tree, the accepted formats); psycopg, minio, ffmpeg and processing are never loaded.
"""
