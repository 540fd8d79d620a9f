"""Built-in web pages: the hall wall display (``/wall/<site>``) and the staff alert page (``/staff``).

This package holds only their files (``static/``: plain HTML, CSS and JavaScript shipped as
package data; no build step, no CDN, no external fonts, so a hall that is offline from the
internet still shows them). The routes that serve them are :mod:`server.api.routes.pages`.
See docs/pages.md.
"""
