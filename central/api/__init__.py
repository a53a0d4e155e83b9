"""The HTTP API (DESIGN §4): shared dependencies (:mod:`.deps`), the request
body reader (:mod:`.body`), the error answers (:mod:`.errors`) and one router
module per resource in :mod:`.routes`."""
