"""Event contracts: Python models and the JSON Schema files publishers in any language use."""
