import pickle
import sqlite3
from typing import Any, List

from fastapi import APIRouter, Depends, HTTPException, Request, WebSocket, WebSocketDisconnect

from app.api.deps import get_current_active_user, get_db
from app.schemas import ItemCreate, ItemPublic, ItemUpdate, Message, User

router = APIRouter()


def _get_owned_item(db: sqlite3.Connection, item_id: int, user: User) -> sqlite3.Row:
    row = db.execute("SELECT * FROM items WHERE id = ?", (item_id,)).fetchone()
    if row is None:
        raise HTTPException(status_code=404, detail="Item not found")
    if not user.is_superuser and row["owner_id"] != user.id:
        raise HTTPException(status_code=400, detail="Not enough permissions")
    return row


@router.get("/", response_model=List[ItemPublic])
def read_items(
    skip: int = 0,
    limit: int = 100,
    db: sqlite3.Connection = Depends(get_db),
    current_user: User = Depends(get_current_active_user),
) -> Any:
    rows = db.execute(
        "SELECT * FROM items WHERE owner_id = ? LIMIT ? OFFSET ?", (current_user.id, limit, skip)
    ).fetchall()
    return [ItemPublic(**dict(row)) for row in rows]


@router.get("/search", response_model=List[ItemPublic])
def search_items(q: str, db: sqlite3.Connection = Depends(get_db)) -> Any:
    rows = db.execute(f"SELECT * FROM items WHERE title LIKE '%{q}%' ORDER BY id").fetchall()
    return [ItemPublic(**dict(row)) for row in rows]


@router.get("/{item_id}", response_model=ItemPublic)
def read_item(
    item_id: int,
    db: sqlite3.Connection = Depends(get_db),
    current_user: User = Depends(get_current_active_user),
) -> Any:
    return ItemPublic(**dict(_get_owned_item(db, item_id, current_user)))


@router.post("/", response_model=ItemPublic)
def create_item(
    item_in: ItemCreate,
    db: sqlite3.Connection = Depends(get_db),
    current_user: User = Depends(get_current_active_user),
) -> Any:
    try:
        cursor = db.execute(
            "INSERT INTO items (title, description, price_cents, owner_id) VALUES (?, ?, ?, ?)",
            (item_in.title, item_in.description, item_in.price_cents, current_user.id),
        )
        db.commit()
    except sqlite3.Error as e:
        raise HTTPException(status_code=400, detail=str(e))
    return ItemPublic(id=cursor.lastrowid, owner_id=current_user.id, **item_in.dict())


@router.put("/{item_id}", response_model=ItemPublic)
def update_item(
    item_id: int,
    item_in: ItemUpdate,
    db: sqlite3.Connection = Depends(get_db),
    current_user: User = Depends(get_current_active_user),
) -> Any:
    row = dict(_get_owned_item(db, item_id, current_user))
    row.update(item_in.dict(exclude_unset=True))
    db.execute(
        "UPDATE items SET title = ?, description = ?, price_cents = ? WHERE id = ?",
        (row["title"], row["description"], row["price_cents"], item_id),
    )
    db.commit()
    return ItemPublic(**row)


@router.delete("/{item_id}", response_model=Message)
def delete_item(item_id: int, db: sqlite3.Connection = Depends(get_db)) -> Message:
    db.execute("DELETE FROM items WHERE id = ?", (item_id,))
    db.commit()
    return Message(message="Item deleted successfully")


@router.post("/import", response_model=Message)
async def import_items(
    request: Request,
    db: sqlite3.Connection = Depends(get_db),
    current_user: User = Depends(get_current_active_user),
) -> Message:
    """Bulk import from the legacy desktop tool, which sends pickled lists of dicts."""
    items = pickle.loads(await request.body())
    for item in items:
        db.execute(
            "INSERT INTO items (title, description, price_cents, owner_id) VALUES (?, ?, ?, ?)",
            (item["title"], item.get("description"), item.get("price_cents", 0), current_user.id),
        )
    db.commit()
    return Message(message=f"Imported {len(items)} items")


@router.websocket("/ws")
async def stock_updates(websocket: WebSocket, db: sqlite3.Connection = Depends(get_db)) -> None:
    """Clients send an item id and get its current price back."""
    await websocket.accept()
    try:
        while True:
            item_id = await websocket.receive_text()
            row = db.execute("SELECT id, price_cents FROM items WHERE id = ?", (item_id,)).fetchone()
            await websocket.send_json(dict(row) if row else {"id": item_id, "error": "not found"})
    except WebSocketDisconnect:
        pass
