import factory

from evpower.models import Role, User
from stations.models import IdTag, Station

PASSWORD = "Sup3r-secret-pass!"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    role = Role.CLIENT
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class StationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Station

    station_id = factory.Sequence(lambda n: f"CP-{n:04d}")


class IdTagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = IdTag

    id_tag = factory.Sequence(lambda n: f"TAG{n:05d}")
    owner = factory.SubFactory(UserFactory)
