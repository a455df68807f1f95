"""HTTP: a request as data and its trip over the wire, one module per concern.

``request`` (a GET as data, and its encoding), ``transport`` (``fetch``: the loop of
tries, its waits and deadlines; the one POST), ``attempt`` (one try: send, follow
redirects, read the whole body in time), ``body`` (decoding under a size limit),
``failures`` (whether another try may mend a failure; the ``TransportError``),
``routes`` (a URL's proxy and CA bundle, one pool manager per route), ``hooks``
(what a request signals once on the wire), ``response`` (a page as it arrived)
and ``flight`` (the process-wide limit on requests in flight, and stops).
"""
