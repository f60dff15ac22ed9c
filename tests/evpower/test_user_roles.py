"""The role and Django's is_staff/is_superuser flags never disagree."""

import pytest
from django.core.management import call_command

from evpower.models import Role, User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "role,is_staff,is_superuser",
    [
        (Role.CLIENT, False, False),
        (Role.OPERATOR, True, False),
        (Role.ADMIN, True, False),
        (Role.SUPERADMIN, True, True),
    ],
)
def test_flags_follow_the_role(role, is_staff, is_superuser):
    user = UserFactory(role=role)

    user.refresh_from_db()
    assert (user.is_staff, user.is_superuser) == (is_staff, is_superuser)


def test_create_superuser_makes_a_superadmin():
    user = User.objects.create_superuser("root", "root@example.com", "Sup3r-secret-pass!")

    user.refresh_from_db()
    assert user.role == Role.SUPERADMIN
    assert user.is_superuser and user.is_staff


def test_createsuperuser_command_makes_a_superadmin(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "Sup3r-secret-pass!")

    call_command("createsuperuser", "--noinput", "--username", "root", "--email", "root@example.com")

    assert User.objects.get(username="root").role == Role.SUPERADMIN


def test_demoting_a_superadmin_clears_superuser():
    user = UserFactory(role=Role.SUPERADMIN)
    user = User.objects.get(pk=user.pk)

    user.role = Role.CLIENT
    user.save()

    user.refresh_from_db()
    assert (user.role, user.is_staff, user.is_superuser) == (Role.CLIENT, False, False)


def test_ticking_superuser_alone_promotes_to_superadmin():
    user = User.objects.get(pk=UserFactory(role=Role.OPERATOR).pk)

    user.is_superuser = True
    user.save()

    user.refresh_from_db()
    assert user.role == Role.SUPERADMIN


def test_unticking_superuser_alone_demotes_to_admin():
    user = User.objects.get(pk=UserFactory(role=Role.SUPERADMIN).pk)

    user.is_superuser = False
    user.save()

    user.refresh_from_db()
    assert (user.role, user.is_superuser, user.is_staff) == (Role.ADMIN, False, True)


def test_staff_flag_cannot_be_set_apart_from_the_role():
    user = User.objects.get(pk=UserFactory(role=Role.CLIENT).pk)

    user.is_staff = True
    user.save()

    user.refresh_from_db()
    assert (user.role, user.is_staff) == (Role.CLIENT, False)


def test_same_instance_saved_twice_keeps_the_new_role():
    user = UserFactory(role=Role.SUPERADMIN)

    user.role = Role.OPERATOR
    user.save()
    user.email = "changed@example.com"
    user.save()

    user.refresh_from_db()
    assert (user.role, user.is_superuser) == (Role.OPERATOR, False)


def test_loading_users_with_deferred_role_costs_no_extra_queries(django_assert_num_queries):
    UserFactory.create_batch(3)

    with django_assert_num_queries(1):
        names = [u.username for u in User.objects.only("username")]

    assert len(names) == 3


@pytest.mark.parametrize(
    "role,checked,expected",
    [
        (Role.CLIENT, Role.CLIENT, True),
        (Role.CLIENT, Role.OPERATOR, False),
        (Role.OPERATOR, Role.CLIENT, True),
        (Role.ADMIN, Role.OPERATOR, True),
        (Role.ADMIN, Role.SUPERADMIN, False),
        (Role.SUPERADMIN, Role.ADMIN, True),
    ],
)
def test_has_role_means_that_role_or_above(role, checked, expected):
    assert UserFactory.build(role=role).has_role(checked) is expected


def test_inactive_user_has_no_role():
    assert not UserFactory.build(role=Role.SUPERADMIN, is_active=False).has_role(Role.CLIENT)
