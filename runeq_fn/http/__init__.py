"""HTTP: requests on the wire, bodies, responses, the process-wide limit on requests in flight, and the retry policy."""
