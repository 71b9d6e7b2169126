"""A tiny shop: money formatting, pricing rules and a shopping cart.

The modules depend on each other in a chain, ``money`` <- ``pricing`` <-
``cart``, so an edit to ``money`` reloads all three, in that order.
"""
