"""Shared helpers every area uses: paths, stage and stack names, errors, console output, waiting, the template. Imports nothing else of devkit."""
