"""`make demo`: the bundled Attent simulator and `dagster dev`, wired together, until Ctrl-C.

A launcher, not part of the sync: it starts processes and talks to Dagster's webserver over HTTP;
it imports no Dagster (an import-linter contract). The end-to-end tests drive the same process
handling and GraphQL client.
"""
