"""Developer and demo tooling, not deployed as part of the stream processor: the embedded Tansu
broker launcher, the deterministic traffic generator and `servicepulse demo`."""
