"""Jobs: the work libcard does on its own, daily or continuously, in `serve` or `libcard worker`."""
