"""Django admin for users: superadmins manage everyone, admins only clients and operators."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from evpower.access import Can, Role, may
from evpower.admin_kit import BackOfficeAdmin
from evpower.models import User
from evpower.services import user_may_manage

# Fields only a superadmin may set: they decide who else is a superuser or
# holds Django permissions outside the role.
_SUPERADMIN_FIELDS = ("is_superuser", "is_staff", "groups", "user_permissions")


@admin.register(User)
class UserAdmin(BaseUserAdmin, BackOfficeAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm
    list_display = ("username", "email", "role", "is_active", "date_joined")
    list_filter = ("role", "is_active")
    ordering = ("-date_joined", "-id")
    fieldsets = (*BaseUserAdmin.fieldsets, ("Role", {"fields": ("role", "language")}))
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "email", "role", "password1", "password2")}),
    )

    def _is_superadmin(self, request) -> bool:
        return may(request.user, Can.GRANT_PRIVILEGED_ROLES)

    def _may_manage(self, request, obj) -> bool:
        if obj is None:
            return True
        # Nobody changes their own role or deletes themselves here either; an
        # admin's own row is an admin's, so only a superadmin edits it.
        return user_may_manage(actor=request.user, role=obj.role)

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and self._may_manage(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.pk == request.user.pk:
            return False
        return super().has_delete_permission(request, obj) and self._may_manage(request, obj)

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not self._is_superadmin(request):
            readonly += _SUPERADMIN_FIELDS
        if obj is not None and obj.pk == request.user.pk:
            readonly.append("role")
        return readonly

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "role" and not self._is_superadmin(request):
            kwargs["choices"] = [
                (value, label)
                for value, label in Role.choices
                if user_may_manage(actor=request.user, role=value)
            ]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not self._is_superadmin(request):
            # The bulk delete checks model permissions only, not each row's
            # role: it would let an admin delete admins.
            actions.pop("delete_selected", None)
        return actions
