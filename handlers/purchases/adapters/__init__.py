"""AWS implementations of the ports in `purchases.ports` (the only place boto3 is imported)."""
