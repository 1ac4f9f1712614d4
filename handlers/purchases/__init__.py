"""Product-purchase domain: validation rules, write messages, ordering, ports and their AWS adapters.

Only `purchases.adapters` may import boto3, so everything else stays importable (and testable)
without AWS and without paying boto3's import cost where it is not needed.
"""
