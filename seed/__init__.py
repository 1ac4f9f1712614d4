"""Sample purchases (the original system's samples) and how they are sent through the API."""
