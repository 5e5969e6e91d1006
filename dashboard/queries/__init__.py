"""Typed read queries, one module per page area (endpoints, cost, savings, health, collection, catalog, ...): each
function returns a DataFrame and binds every value as a parameter. ``scope`` gives the sidebar's filter values,
``prices`` the one hourly-price rule, ``_common`` the helpers the modules share.
"""
