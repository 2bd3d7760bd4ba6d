"""Optional integrations with frameworks (layer L4, front doors).

Each module imports its framework at the top and needs the matching extra
(``pip install steer-sync[django]`` for :mod:`steer_sync.contrib.django`);
:mod:`steer_sync.contrib.wsgi` needs nothing beyond steer_sync. ``import steer_sync``
never imports anything in this package.
"""
