from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import IdTagFactory, UserFactory


@pytest.fixture
def tags(transactional_db):
    owner = UserFactory()
    now = datetime.now(UTC)
    return {
        "ok": IdTagFactory(
            id_tag="OK", owner=owner, parent_id_tag="GROUP1", expiry_date=now + timedelta(days=30)
        ),
        "blocked": IdTagFactory(id_tag="BLOCKED", status="Blocked"),
        "expired": IdTagFactory(id_tag="EXPIRED", expiry_date=now - timedelta(days=1)),
        "invalid": IdTagFactory(id_tag="LISTEDINVALID", status="Invalid"),
        "noowner": IdTagFactory(id_tag="NOOWNER", owner=None),
    }
