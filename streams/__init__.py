"""The thin edge: Faust agents, topics and tables that wire `processors/` to Kafka."""

from importlib.metadata import version

# The one version string is [project].version in pyproject.toml.
__version__ = version("servicepulse")
