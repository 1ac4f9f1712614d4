"""Checking the project: lint, the OpenAPI document, the test runner, the browser lookup. Imports delivery, stack, engines and core."""
