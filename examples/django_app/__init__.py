"""A small notes API in Django REST framework, protected by a running ``jwtgate serve`` (see README)."""
