"""Sextant's core: settings, the store's schema, reader and writer, the AWS client factory and API prices.

The core imports nothing from the other packages (collectors, dashboard, actions, demo); they import it.
"""
