"""`invoke console`: a single-page web console for a deployed stack, served on 127.0.0.1 (see server.py)."""
