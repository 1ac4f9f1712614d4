"""End-to-end tests: black-box against a deployed stack (see conftest.py)."""
