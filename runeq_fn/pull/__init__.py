"""A pull: a query made into requests and pages, one module per concern.

``build`` (a request from a config and a query), ``paging`` (the pagination
steps), ``pages`` (the lazy page generator), ``windows`` (a sharded pull's
windows, planned), ``cut`` (a window's pages cut to its edges), ``shards`` (the
windows pulled at once, in order), ``cohort`` (many queries at once),
``options`` (the options every surface passes, checked) and ``stats`` (what a
pull did).
"""
