"""The server's InfluxDB side: protocol messages as line protocol, and the batching writer."""
