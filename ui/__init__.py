"""User interfaces: the ``whosaid`` command line (and, later, the chat server)."""
