"""`POST /api/auth/token/`: DRF's token login, with the guards of project/auth.py."""

from drf_spectacular.utils import extend_schema
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from project.auth import AddressLoginThrottle, UsernameLoginThrottle, token_for
from project.openapi import THROTTLED, error, invalid


class ObtainExpiringAuthToken(ObtainAuthToken):
    """Exchanges a username and password for the user's API token,
    `{"token": "..."}`; send it as `Authorization: Token <token>`. A token expires
    after AUTH_TOKEN_TTL_HOURS: logging in again then gives a new one. Failed
    attempts are limited per username and per client address (429)."""

    # A client holding an expired (or unknown) token in its header can still log in.
    authentication_classes = ()
    throttle_classes = (AddressLoginThrottle, UsernameLoginThrottle)

    @extend_schema(
        request=AuthTokenSerializer,
        responses={
            200: AuthTokenSerializer,
            400: invalid("Wrong username or password"),
            # DRF's answer to a body whose media type it cannot read (a form whose
            # multipart header it cannot make out): schemathesis found one.
            415: error("Unsupported media type"),
            429: THROTTLED,
        },
    )
    def post(self, request, *args, **kwargs):
        # The throttles counted this attempt before it got here; a success is forgiven.
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            raise ValidationError(serializer.errors)
        AddressLoginThrottle().forgive(request, self)
        UsernameLoginThrottle().clear(request, self)
        return Response({"token": token_for(serializer.validated_data["user"]).key})
