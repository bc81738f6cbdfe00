import sqlite3
from collections import deque
from typing import Any, List

from fastapi import APIRouter, Depends

from app.api import deps
from app.core.config import settings
from app.schemas import Message

router = APIRouter(
    prefix="/admin",
    tags=["admin"],
    dependencies=[Depends(deps.get_current_active_superuser)],
)


@router.get("/stats")
def shop_stats(db: sqlite3.Connection = Depends(deps.get_db)) -> Any:
    users = db.execute("SELECT COUNT(*) FROM users").fetchone()[0]
    items = db.execute("SELECT COUNT(*), COALESCE(SUM(price_cents), 0) FROM items").fetchone()
    return {"users": users, "items": items[0], "stock_value_cents": items[1]}


@router.post("/users/{user_id}/deactivate", response_model=Message)
def deactivate_user(user_id: int, db: sqlite3.Connection = Depends(deps.get_db)) -> Message:
    db.execute("UPDATE users SET is_active = 0 WHERE id = ?", (user_id,))
    db.commit()
    return Message(message=f"User {user_id} deactivated")


@router.get("/audit-log")
def read_audit_log(lines: int = 100) -> List[str]:
    try:
        with open(settings.AUDIT_LOG, encoding="utf-8") as log:
            return list(deque(log, maxlen=lines))
    except FileNotFoundError:
        return []
