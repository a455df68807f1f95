"""HTTP: a request as data, its trip over the wire (pools, routes, retries), bodies, responses, and the process-wide limit on requests in flight."""
