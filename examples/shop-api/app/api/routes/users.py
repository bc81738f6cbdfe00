import sqlite3
from typing import Any, List

from fastapi import APIRouter, Depends, HTTPException

from app.api import deps
from app.core.security import get_password_hash
from app.schemas import Message, User, UserCreate, UserPublic, UserRegister, UserUpdateMe

router = APIRouter()


def _insert_user(db: sqlite3.Connection, email: str, password: str, **fields: Any) -> UserPublic:
    try:
        cursor = db.execute(
            "INSERT INTO users (email, full_name, hashed_password, is_superuser) VALUES (?, ?, ?, ?)",
            (email, fields.get("full_name"), get_password_hash(password), fields.get("is_superuser", False)),
        )
        db.commit()
    except sqlite3.IntegrityError:
        raise HTTPException(status_code=400, detail="A user with this email already exists")
    row = db.execute("SELECT * FROM users WHERE id = ?", (cursor.lastrowid,)).fetchone()
    return UserPublic(**dict(row))


@router.get(
    "/",
    response_model=List[UserPublic],
    dependencies=[Depends(deps.get_current_active_superuser)],
)
def read_users(
    skip: int = 0, limit: int = 100, db: sqlite3.Connection = Depends(deps.get_db)
) -> Any:
    rows = db.execute("SELECT * FROM users LIMIT ? OFFSET ?", (limit, skip)).fetchall()
    return [UserPublic(**dict(row)) for row in rows]


@router.post("/", response_model=UserPublic)
def create_user(
    user_in: UserCreate,
    db: sqlite3.Connection = Depends(deps.get_db),
    current_user: User = Depends(deps.get_current_active_superuser),
) -> Any:
    return _insert_user(
        db, user_in.email, user_in.password,
        full_name=user_in.full_name, is_superuser=user_in.is_superuser,
    )


@router.get("/me", response_model=UserPublic)
def read_user_me(current_user: User = Depends(deps.get_current_active_user)) -> Any:
    return current_user


@router.patch("/me", response_model=UserPublic)
def update_user_me(
    user_in: UserUpdateMe,
    db: sqlite3.Connection = Depends(deps.get_db),
    current_user: User = Depends(deps.get_current_active_user),
) -> Any:
    db.execute(
        "UPDATE users SET email = COALESCE(?, email), full_name = COALESCE(?, full_name) WHERE id = ?",
        (user_in.email, user_in.full_name, current_user.id),
    )
    db.commit()
    row = db.execute("SELECT * FROM users WHERE id = ?", (current_user.id,)).fetchone()
    return UserPublic(**dict(row))


@router.post("/signup", response_model=UserPublic)
def register_user(user_in: UserRegister, db: sqlite3.Connection = Depends(deps.get_db)) -> Any:
    return _insert_user(db, user_in.email, user_in.password, full_name=user_in.full_name)


# Used by the support team's spreadsheet import; hidden from the public docs.
@router.get("/export", include_in_schema=False)
def export_users(db: sqlite3.Connection = Depends(deps.get_db)) -> List[dict]:
    return [dict(row) for row in db.execute("SELECT * FROM users").fetchall()]


@router.get("/{user_id}", response_model=UserPublic)
def read_user_by_id(
    user_id: int,
    db: sqlite3.Connection = Depends(deps.get_db),
    current_user: User = Depends(deps.get_current_active_user),
) -> Any:
    row = db.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
    if row is None:
        raise HTTPException(status_code=404, detail="User not found")
    return UserPublic(**dict(row))


@router.delete("/{user_id}", response_model=Message)
def delete_user(
    user_id: int,
    db: sqlite3.Connection = Depends(deps.get_db),
    current_user: User = Depends(deps.get_current_active_superuser),
) -> Message:
    if user_id == current_user.id:
        raise HTTPException(status_code=403, detail="Super users are not allowed to delete themselves")
    db.execute("DELETE FROM users WHERE id = ?", (user_id,))
    db.commit()
    return Message(message="User deleted successfully")
