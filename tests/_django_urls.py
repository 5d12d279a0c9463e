"""URLs of the test project: the admin, and views that change users like an app would."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def create_user(request: HttpRequest) -> HttpResponse:
    """A sign-up view: saves a user in a transaction; ``fail=1`` rolls it back."""
    user_model = get_user_model()
    try:
        with transaction.atomic():
            user = user_model.objects.create_user(
                username=request.POST["email"],
                email=request.POST["email"],
                first_name=request.POST["first"],
                last_name=request.POST["last"],
            )
            if request.POST.get("fail"):
                raise RuntimeError("payment declined")
    except RuntimeError as exc:
        return JsonResponse({"error": str(exc)}, status=402)
    return JsonResponse({"id": user.pk}, status=201)


urlpatterns = [
    path("admin/", admin.site.urls),
    path("signup/", create_user),
]
