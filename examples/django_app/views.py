"""The notes API: the same routes as the FastAPI and Flask examples."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jwtgate.protect.django import HasRole, HasScope

# Per user, in process memory: this is an example.
NOTES: dict[str, list[str]] = {}


def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


class Notes(APIView):
    """GET needs scope ``read``, POST scope ``write``, DELETE role ``editor``."""

    def get_permissions(self) -> list[object]:
        if self.request.method == "POST":
            return [HasScope("write")]
        if self.request.method == "DELETE":
            return [HasRole("editor")]
        return [HasScope("read")]

    def get(self, request: Request) -> Response:
        return Response({"user": request.user.username, "notes": NOTES.get(request.user.pk, [])})

    def post(self, request: Request) -> Response:
        text = request.data.get("text") if isinstance(request.data, dict) else None
        if not isinstance(text, str) or not 1 <= len(text) <= 1000:
            return Response(
                {"error": "invalid_request", "error_description": "text: 1 to 1000 characters"}, status=400
            )
        NOTES.setdefault(request.user.pk, []).append(text)
        return Response({"user": request.user.username, "count": len(NOTES[request.user.pk])}, status=201)

    def delete(self, request: Request) -> Response:
        removed = sum(len(items) for items in NOTES.values())
        NOTES.clear()
        return Response({"removed": removed})
