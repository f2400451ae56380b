"""The thin edge: Faust agents, topics and tables that wire `processors/` to Kafka."""

__version__ = "0.1.0"
