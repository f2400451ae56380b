"""The pure core: no Kafka, no Faust, no clock of its own. Unit-tested directly."""
