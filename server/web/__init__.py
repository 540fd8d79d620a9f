"""Built-in web pages: the hall wall display (``/wall/<site>``) and the staff alert page (``/staff``).

Plain HTML, CSS and JavaScript shipped as package data (``static/``): no build step, no CDN,
no external fonts, so a hall that is offline from the internet still shows them. See
docs/pages.md.
"""
