"""What `local_moto.py` adds to moto's server: fault/latency injection and AWS's limits."""
