"""`/auth/token`, `/auth/me` and `/ocpp/users`."""

from axes.helpers import get_cool_off
from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_logged_in
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from evpower import services
from evpower.api.errors import ErrorOutput
from evpower.api.permissions import IsAdmin, IsClient
from evpower.errors import DomainError, TooManyAttempts
from evpower.login_protection import LOCKED_CODE, lockout_detail
from evpower.models import Role, User


class TokenInput(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)


class TokenView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        request=TokenInput,
        responses={
            200: inline_serializer("TokenOutput", {"token": serializers.CharField()}),
            400: ErrorOutput,
            429: ErrorOutput,
        },
    )
    def post(self, request):
        data = TokenInput(data=request.data)
        data.is_valid(raise_exception=True)
        # The login protection (django-axes) counts failures and flags a
        # lockout on Django's request, not on DRF's wrapper.
        http_request = request._request
        user = authenticate(request=http_request, **data.validated_data)
        if getattr(http_request, "axes_locked_out", False):
            raise TooManyAttempts(LOCKED_CODE, lockout_detail(get_cool_off(http_request)))
        if user is None:
            raise DomainError("invalid_credentials", "Unable to log in with these credentials.")
        # A token login is a login: resets the failure count, sets last_login.
        user_logged_in.send(sender=user.__class__, request=http_request, user=user)
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


class MeOutput(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.CharField()


class MeView(APIView):
    permission_classes = [IsClient]

    @extend_schema(responses={200: MeOutput, 401: ErrorOutput})
    def get(self, request):
        return Response(MeOutput(request.user).data)


class UserSerializer(serializers.ModelSerializer):
    password = serializers.CharField(write_only=True, required=False, trim_whitespace=False)
    role = serializers.ChoiceField(choices=Role.choices, required=False)

    class Meta:
        model = User
        fields = ["id", "username", "password", "email", "role", "is_active"]

    def validate(self, attrs):
        # The password's strength is checked by the service, against the
        # final username and email; only its presence is a serializer matter.
        if self.instance is None and not attrs.get("password"):
            raise serializers.ValidationError({"password": ["This field is required."]})
        return attrs


class UserListView(generics.ListCreateAPIView):
    permission_classes = [IsAdmin]
    serializer_class = UserSerializer
    queryset = User.objects.order_by("-date_joined", "-id")

    def perform_create(self, serializer):
        serializer.instance = services.user_create(actor=self.request.user, **serializer.validated_data)


class UserDetailView(generics.RetrieveUpdateDestroyAPIView):
    permission_classes = [IsAdmin]
    serializer_class = UserSerializer
    queryset = User.objects.all()
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def perform_update(self, serializer):
        serializer.instance = services.user_update(
            actor=self.request.user, user=serializer.instance, data=dict(serializer.validated_data)
        )

    def perform_destroy(self, instance):
        services.user_delete(actor=self.request.user, user=instance)
