"""Customer features in Redis: the loader that writes them and the read path that serves them.

Each customer is one HASH ``{prefix}{customer_id}`` of feature name -> string, plus ``_updated``
(epoch seconds). Writers publish the changed customer ids on a pub/sub channel so that readers
drop their near-cache entries at once.
"""
