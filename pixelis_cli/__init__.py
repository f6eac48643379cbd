"""The ``pixelis`` command line: one thin module per command; the work lives in pixelis_data / pixelis_train."""
