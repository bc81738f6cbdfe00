from fastapi import APIRouter, Depends, Security

from app.deps import get_current_user, get_scoped_user
from shop_auth import require_staff

router = APIRouter(tags=["items"])

ITEMS: dict[int, dict] = {}


@router.get("/")
def list_items() -> list[dict]:
    return list(ITEMS.values())


@router.post("/")
def create_item(item: dict) -> dict:
    item_id = len(ITEMS) + 1
    ITEMS[item_id] = item
    return {"id": item_id, **item}


@router.put("/{item_id}")
def replace_item(
    item_id: int, item: dict, user: dict = Security(get_scoped_user, scopes=["items:write"])
) -> dict:
    ITEMS[item_id] = item
    return item


@router.delete("/{item_id}")
def delete_item(item_id: int, user: dict = Depends(get_current_user)) -> None:
    ITEMS.pop(item_id, None)


@router.get("/export", include_in_schema=False)
def export_items() -> dict:
    return {"items": list(ITEMS.values())}


@router.post("/import", dependencies=[Depends(require_staff)])
def import_items(items: list[dict]) -> int:
    for item in items:
        ITEMS[len(ITEMS) + 1] = item
    return len(items)
