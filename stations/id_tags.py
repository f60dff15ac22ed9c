"""Id tags (RFID cards, app tokens): how a tag authorises, who may use it,
and creating, changing and deleting them."""

from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from evpower.api.permissions import has_role
from evpower.errors import Forbidden
from evpower.models import Role
from stations.models import IdTag, IdTagStatus


def id_tag_use_check(*, actor, tag: IdTag | None) -> None:
    """The ownership rule, for every use of a tag: operators act for any driver
    (support calls); anyone else only with a tag of their own. Raises Forbidden."""
    if has_role(actor, Role.OPERATOR):
        return
    if tag is None or tag.owner_id is None or tag.owner_id != getattr(actor, "pk", None):
        raise Forbidden("permission_denied", "You do not own this id tag.")


def id_tags_visible(*, user) -> QuerySet[IdTag]:
    """The tags `user` may read: all for operator+, its own otherwise (same rule)."""
    tags = IdTag.objects.order_by("-created_at", "-id")
    if has_role(user, Role.OPERATOR):
        return tags
    return tags.filter(owner=user)


def id_tag_info(*, id_tag: str, now: datetime) -> dict:
    """The OCPP idTagInfo of a tag from the id-tag table (no ConcurrentTx check)."""
    return id_tag_lookup(id_tag=id_tag, now=now)[0]


def id_tag_lookup(*, id_tag: str, now: datetime) -> tuple[dict, int | None]:
    """The tag's idTagInfo (as id_tag_info) and its owner's id, in one query."""
    tag = IdTag.objects.filter(id_tag__iexact=id_tag).first()  # CiString: case-insensitive
    if tag is None:
        return {"status": IdTagStatus.INVALID.value}, None
    return _info(tag, now), tag.owner_id


def _info(tag: IdTag, now: datetime) -> dict:
    status = tag.status
    if status == IdTagStatus.ACCEPTED and tag.expiry_date and tag.expiry_date <= now:
        status = IdTagStatus.EXPIRED
    info = {"status": str(status)}
    if tag.expiry_date:
        info["expiryDate"] = tag.expiry_date.isoformat().replace("+00:00", "Z")
    if tag.parent_id_tag:
        info["parentIdTag"] = tag.parent_id_tag
    return info


class IdTagTaken(Exception):
    """Another tag already has this id (case-insensitively: OCPP's CiString)."""


ID_TAG_EDITABLE = ("id_tag", "owner", "status", "expiry_date", "parent_id_tag")


def _id_tag_taken(id_tag: str, exclude_pk: int | None = None) -> bool:
    return IdTag.objects.filter(id_tag__iexact=id_tag).exclude(pk=exclude_pk).exists()


def id_tag_create(
    *,
    id_tag: str,
    owner=None,
    status: str = IdTagStatus.ACCEPTED,
    expiry_date: datetime | None = None,
    parent_id_tag: str = "",
) -> IdTag:
    """Add an id tag; raises IdTagTaken."""
    if _id_tag_taken(id_tag):
        raise IdTagTaken(id_tag)
    try:
        with transaction.atomic():
            return IdTag.objects.create(
                id_tag=id_tag,
                owner=owner,
                status=status,
                expiry_date=expiry_date,
                parent_id_tag=parent_id_tag or "",
            )
    except IntegrityError as exc:
        raise IdTagTaken(id_tag) from exc


def id_tag_update(*, tag: IdTag, data: dict) -> IdTag:
    """Change an id tag (its id too); raises IdTagTaken."""
    if "id_tag" in data and _id_tag_taken(data["id_tag"], exclude_pk=tag.pk):
        raise IdTagTaken(data["id_tag"])
    fields = [name for name in ID_TAG_EDITABLE if name in data]
    for name in fields:
        value = data[name]
        setattr(tag, name, "" if name == "parent_id_tag" and value is None else value)
    if fields:
        try:
            with transaction.atomic():
                tag.save(update_fields=fields)
        except IntegrityError as exc:
            raise IdTagTaken(tag.id_tag) from exc
    return tag


def id_tag_delete(*, tag: IdTag) -> None:
    # Transactions keep the tag as a string: deleting it loses no history.
    tag.delete()
